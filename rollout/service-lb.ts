/**
 * The emulated Service: a TCP load balancer process, as kube-proxy is for a
 * ClusterIP. Each new client connection goes to the next ready endpoint (round
 * robin) and stays there for its whole life, as conntrack keeps it; changing
 * the endpoint list never touches connections already open. A backend that
 * refuses or resets makes the client connection reset too (RST both ways), so
 * the clients see what they would see through DNAT.
 *
 *   LISTEN_HOST, LISTEN_PORTS   the Service's virtual address and ports (127.0.1.1, 8000,50051)
 *   CONTROL_PORT                control on LISTEN_HOST: GET /endpoints?set=ip:t1:t2,ip:t1:t2  GET /stats
 *
 * An endpoint is a pod address with one target port per Service port, in the
 * order of LISTEN_PORTS (a Service's named targetPorts: the same Service port
 * may reach port 8000 in one pod and 8080 in another).
 *
 * Every endpoint change and every failed backend connect is logged as one JSON line on stdout.
 */
import http from 'node:http';
import net from 'node:net';

const host = process.env.LISTEN_HOST ?? '127.0.1.1';
const ports = (process.env.LISTEN_PORTS ?? '8000').split(',').map(Number);
const controlPort = Number(process.env.CONTROL_PORT ?? 9000);

interface Endpoint {
  readonly host: string;
  /** Target port per Service port, in LISTEN_PORTS order. */
  readonly targetPorts: readonly number[];
}

let endpoints: Endpoint[] = [];
const turns = ports.map(() => 0);
const stats = {
  connections: 0,
  noEndpoint: 0,
  /** Failed backend connects by error code (ECONNREFUSED: the pod no longer listens). */
  backendConnectErrors: {} as Record<string, number>,
  /** Backend connections that ended with an error after connecting (reset). */
  backendResets: 0,
  /** New connections per endpoint per second since start: { "ip:targetPort": { "12": 3 } }. */
  newConnectionsPerSecond: {} as Record<string, Record<string, number>>,
};
const startedAt = performance.now();

function log(line: Record<string, unknown>): void {
  console.log(JSON.stringify({ time: Date.now(), ...line }));
}

function parseEndpoint(text: string): Endpoint {
  const [host, ...targets] = text.split(':');
  const targetPorts = targets.map(Number);
  if (targetPorts.length !== ports.length || targetPorts.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
    throw new Error(`endpoint ${text}: expected ip and ${ports.length} target port(s)`);
  }
  return { host, targetPorts };
}

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
  const second = String(Math.floor((performance.now() - startedAt) / 1000));
  const perSecond = (stats.newConnectionsPerSecond[target] ??= {});
  perSecond[second] = (perSecond[second] ?? 0) + 1;
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

const control = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://control');
  if (url.pathname === '/endpoints') {
    const set = url.searchParams.get('set');
    if (set !== null) {
      try {
        endpoints = set === '' ? [] : set.split(',').map(parseEndpoint);
      } catch (err) {
        res.writeHead(400, { 'content-type': 'text/plain' });
        res.end(`${(err as Error).message}\n`);
        return;
      }
      log({ msg: 'endpoints', endpoints: set });
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ endpoints }));
    return;
  }
  if (url.pathname === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(stats));
    return;
  }
  res.writeHead(404);
  res.end();
});

let listening = 0;
ports.forEach((port, index) => {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, serve(index));
  server.on('error', (err) => {
    console.error(`service-lb: ${err.message}`);
    process.exit(1);
  });
  server.listen(port, host, () => {
    if (++listening === ports.length) control.listen(controlPort, host, () => log({ msg: 'service listening', host, ports, controlPort }));
  });
});

process.on('SIGTERM', () => process.exit(0));
