/**
 * The emulated Service: a TCP load balancer process, as kube-proxy is for a
 * ClusterIP. Each new client connection goes to the next ready endpoint (round
 * robin) and stays there for its whole life, as conntrack keeps it; changing
 * the endpoint list never touches connections already open. A backend that
 * refuses or resets makes the client connection reset too (RST both ways), so
 * the clients see what they would see through DNAT.
 *
 *   LISTEN_HOST, LISTEN_PORT    the Service's virtual address (127.0.1.1:8000)
 *   CONTROL_PORT                control on LISTEN_HOST: GET /endpoints?set=ip:port,ip:port  GET /stats
 *
 * Every endpoint change and every failed backend connect is logged as one JSON line on stdout.
 */
import http from 'node:http';
import net from 'node:net';

const host = process.env.LISTEN_HOST ?? '127.0.1.1';
const port = Number(process.env.LISTEN_PORT ?? 8000);
const controlPort = Number(process.env.CONTROL_PORT ?? 9000);

let endpoints: string[] = [];
let turn = 0;
const stats = {
  connections: 0,
  noEndpoint: 0,
  /** Failed backend connects by error code (ECONNREFUSED: the pod no longer listens). */
  backendConnectErrors: {} as Record<string, number>,
  /** Backend connections that ended with an error after connecting (reset). */
  backendResets: 0,
  /** New connections per endpoint per second since start: { "ip:port": { "12": 3 } }. */
  newConnectionsPerSecond: {} as Record<string, Record<string, number>>,
};
const startedAt = performance.now();

function log(line: Record<string, unknown>): void {
  console.log(JSON.stringify({ time: Date.now(), ...line }));
}

const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
  stats.connections++;
  let backend: net.Socket | undefined;
  client.on('error', () => backend?.resetAndDestroy());
  if (endpoints.length === 0) {
    stats.noEndpoint++;
    client.resetAndDestroy();
    return;
  }
  const target = endpoints[turn++ % endpoints.length];
  const second = String(Math.floor((performance.now() - startedAt) / 1000));
  const perSecond = (stats.newConnectionsPerSecond[target] ??= {});
  perSecond[second] = (perSecond[second] ?? 0) + 1;
  const [targetHost, targetPort] = target.split(':');
  let connected = false;
  backend = net.connect({ host: targetHost, port: Number(targetPort), allowHalfOpen: true, noDelay: true });
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
  const server = backend;
  client.on('close', () => {
    if (!server.destroyed) server.destroy();
  });
  // The pod closed its side (pipe() has ended ours): once that FIN is out, the connection is over.
  server.on('close', () => {
    if (!client.destroyed) client.end(() => client.destroy());
  });
});

server.on('error', (err) => {
  console.error(`service-lb: ${err.message}`);
  process.exit(1);
});

const control = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://control');
  if (url.pathname === '/endpoints') {
    const set = url.searchParams.get('set');
    if (set !== null) {
      endpoints = set === '' ? [] : set.split(',');
      log({ msg: 'endpoints', endpoints });
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

server.listen(port, host, () => {
  control.listen(controlPort, host, () => log({ msg: 'service listening', host, port, controlPort }));
});

process.on('SIGTERM', () => process.exit(0));
