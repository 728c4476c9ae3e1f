/**
 * What both emulated Services share (service-lb.ts, a userspace load balancer;
 * service-iptables.ts, kube-proxy-style DNAT rules): the environment, the
 * endpoint list format, the counters and the control API the endpoints
 * controller (cluster.ts) drives.
 *
 *   LISTEN_HOST, LISTEN_PORTS   the Service's virtual address and ports (127.0.1.1, 8000,50051)
 *   CONTROL_PORT                control on LISTEN_HOST: GET /endpoints?set=ip:t1:t2,ip:t1:t2  GET /endpoints  GET /stats
 *
 * An endpoint is a pod address with one target port per Service port, in the
 * order of LISTEN_PORTS (a Service's named targetPorts: the same Service port
 * may reach port 8000 in one pod and 8080 in another).
 */
import http from 'node:http';
import net from 'node:net';

export const host = process.env.LISTEN_HOST ?? '127.0.1.1';
export const ports = (process.env.LISTEN_PORTS ?? '8000').split(',').map(Number);
export const controlPort = Number(process.env.CONTROL_PORT ?? 9000);

export interface Endpoint {
  readonly host: string;
  /** Target port per Service port, in LISTEN_PORTS order. */
  readonly targetPorts: readonly number[];
}

export interface ServiceStats {
  connections: number;
  noEndpoint: number;
  /** Failed backend connects by error code (ECONNREFUSED: the pod no longer listens). */
  backendConnectErrors: Record<string, number>;
  /** Backend connections that ended with an error after connecting (reset). */
  backendResets: number;
  /** New connections per endpoint per second since start: { "ip:targetPort": { "12": 3 } }. */
  newConnectionsPerSecond: Record<string, Record<string, number>>;
}

export const stats: ServiceStats = { connections: 0, noEndpoint: 0, backendConnectErrors: {}, backendResets: 0, newConnectionsPerSecond: {} };
export const startedAt = performance.now();

/** Counts `n` new connections to `target` (ip:targetPort) in the second `atMs` (since start) falls in. */
export function countNewConnections(target: string, atMs: number, n = 1): void {
  const second = String(Math.floor(atMs / 1000));
  const perSecond = (stats.newConnectionsPerSecond[target] ??= {});
  perSecond[second] = (perSecond[second] ?? 0) + n;
}

export function log(line: Record<string, unknown>): void {
  console.log(JSON.stringify({ time: Date.now(), ...line }));
}

function parseEndpoint(text: string): Endpoint {
  const [address, ...targets] = text.split(':');
  const targetPorts = targets.map(Number);
  // The address may end up in iptables-restore input: nothing but an IPv4 address passes.
  if (!net.isIPv4(address) || targetPorts.length !== ports.length || targetPorts.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
    throw new Error(`endpoint ${text}: expected an IPv4 address and ${ports.length} target port(s)`);
  }
  return { host: address, targetPorts };
}

export function parseEndpoints(set: string): Endpoint[] {
  const parsed = set === '' ? [] : set.split(',').map(parseEndpoint);
  const seen = new Set<string>();
  for (const endpoint of parsed) {
    if (seen.has(endpoint.host)) throw new Error(`endpoint ${endpoint.host} appears twice`);
    seen.add(endpoint.host);
  }
  return parsed;
}

export interface ServiceBackend {
  /** Makes `next` the endpoint list; throws when it cannot (answered 500). */
  setEndpoints(next: Endpoint[]): void;
  endpoints(): readonly Endpoint[];
  /** Brings the counters up to date before /stats answers. */
  refreshStats?(): void;
}

function reply(res: http.ServerResponse, status: number, body: string, type = 'text/plain'): void {
  res.writeHead(status, { 'content-type': type });
  res.end(body);
}

/** The control server; resolves once it listens. */
export function startControl(backend: ServiceBackend, mode: string): Promise<http.Server> {
  const control = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://control');
    if (url.pathname === '/endpoints') {
      const set = url.searchParams.get('set');
      if (set !== null) {
        let next: Endpoint[];
        try {
          next = parseEndpoints(set);
        } catch (err) {
          reply(res, 400, `${(err as Error).message}\n`);
          return;
        }
        try {
          backend.setEndpoints(next);
        } catch (err) {
          log({ msg: 'endpoint change failed', error: (err as Error).message });
          reply(res, 500, `endpoint change failed: ${(err as Error).message}\n`);
          return;
        }
        log({ msg: 'endpoints', endpoints: set });
      }
      reply(res, 200, JSON.stringify({ endpoints: backend.endpoints() }), 'application/json');
      return;
    }
    if (url.pathname === '/stats') {
      backend.refreshStats?.();
      reply(res, 200, JSON.stringify(stats), 'application/json');
      return;
    }
    reply(res, 404, '');
  });
  return new Promise((resolve, reject) => {
    control.once('error', reject);
    control.listen(controlPort, host, () => {
      log({ msg: 'service listening', mode, host, ports, controlPort });
      resolve(control);
    });
  });
}
