/**
 * The emulated Service: a TCP load balancer process, as kube-proxy is for a
 * ClusterIP. Each new client connection goes to the next ready endpoint (round
 * robin) and stays there for its whole life, as conntrack keeps it; changing
 * the endpoint list never touches connections already open. A backend that
 * refuses or resets makes the client connection reset too (RST both ways), so
 * the clients see what they would see through DNAT.
 *
 * Environment and control API: service-control.ts. Every endpoint change and
 * every failed backend connect is logged as one JSON line on stdout.
 */
import net from 'node:net';
import { countNewConnections, host, log, ports, startControl, startedAt, stats, type Endpoint } from './service-control.ts';

let endpoints: Endpoint[] = [];
const turns = ports.map(() => 0);

const serve = (portIndex: number) => (client: net.Socket): void => {
  stats.connections++;
  let backend: net.Socket | undefined;
  client.on('error', () => backend?.resetAndDestroy());
  if (endpoints.length === 0) {
    stats.noEndpoint++;
    client.resetAndDestroy();
    return;
  }
  const endpoint = endpoints[turns[portIndex]++ % endpoints.length];
  const targetPort = endpoint.targetPorts[portIndex];
  const target = `${endpoint.host}:${targetPort}`;
  countNewConnections(target, performance.now() - startedAt);
  let connected = false;
  backend = net.connect({ host: endpoint.host, port: targetPort, allowHalfOpen: true, noDelay: true });
  backend.on('connect', () => {
    connected = true;
  });
  backend.on('error', (err: NodeJS.ErrnoException) => {
    const code = err.code ?? err.message;
    if (connected) {
      stats.backendResets++;
    } else {
      stats.backendConnectErrors[code] = (stats.backendConnectErrors[code] ?? 0) + 1;
      log({ msg: 'backend connect failed', target, code });
    }
    client.resetAndDestroy();
  });
  client.pipe(backend);
  backend.pipe(client);
  const pod = backend;
  client.on('close', () => {
    if (!pod.destroyed) pod.destroy();
  });
  // The pod closed its side (pipe() has ended ours): once that FIN is out, the connection is over.
  pod.on('close', () => {
    if (!client.destroyed) client.end(() => client.destroy());
  });
};

function fail(err: Error): never {
  console.error(`service-lb: ${err.message}`);
  process.exit(1);
}

await Promise.all(ports.map((port, index) => new Promise<void>((resolve) => {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, serve(index));
  server.on('error', fail);
  server.listen(port, host, resolve);
})));
await startControl({
  setEndpoints: (next) => {
    endpoints = next;
  },
  endpoints: () => endpoints,
}, 'userspace').catch(fail);

process.on('SIGTERM', () => process.exit(0));
