import { mkdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { start, type Child } from '../harness/processes.ts';
import { waitFor200 } from '../harness/http.ts';

/** Debian installs nginx in /usr/sbin, which is not on a non-root PATH. */
export function nginxBinary(): string {
  for (const candidate of ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx']) {
    if (existsSync(candidate)) return candidate;
  }
  return 'nginx';
}

export interface NginxInstance {
  readonly name: string;
  readonly port: number;
  readonly child: Child;
  readonly errorLog: string;
}

interface ConnectionLimits {
  readonly workerConnections: number;
  /** The worker's open-file limit (worker_rlimit_nofile); the master runs as root to set it. */
  readonly nofileLimit?: number;
}

/**
 * Settings shared by both instances. One worker, so the comparison with the
 * single-threaded proxy is per core. Temp paths are overridden because Debian
 * compiles in /var/lib/nginx, which a bench must not touch.
 * keepalive_requests is raised from nginx's default 1000 so that neither wrk's
 * connections nor the proxies' upstream connections are recycled mid-run;
 * drain-proxy has no such limit, and reconnects would be charged to nginx.
 */
function mainConfig(prefix: string, serverBlocks: string, limits: ConnectionLimits = { workerConnections: 4096 }): string {
  const userLine = process.getuid?.() === 0 ? 'user root;' : '';
  const { workerConnections, nofileLimit } = limits;
  const nofileLine = nofileLimit === undefined ? '' : `worker_rlimit_nofile ${nofileLimit};`;
  return `${userLine}
worker_processes 1;
${nofileLine}
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'error.log')} warn;
events {
  worker_connections ${workerConnections};
}
http {
  access_log off;
  client_body_temp_path ${join(prefix, 'client_body')};
  proxy_temp_path ${join(prefix, 'proxy')};
  fastcgi_temp_path ${join(prefix, 'fastcgi')};
  uwsgi_temp_path ${join(prefix, 'uwsgi')};
  scgi_temp_path ${join(prefix, 'scgi')};
  keepalive_requests 10000000;
  keepalive_timeout 620s;
${serverBlocks}
}
`;
}

/** The app's routes: the body at `/`, and `/check`, which shows the forwarding headers a proxy added (only the pre-run check asks for it). */
function appLocations(body: string): string {
  // The body goes into a double-quoted nginx string: keep it free of quotes, backslashes and '$'.
  if (/["\\$]/.test(body)) throw new Error('app body must not contain quotes, backslashes or $');
  return `    location / {
      default_type text/plain;
      return 200 "${body}";
    }
    location = /check {
      default_type text/plain;
      add_header X-Seen-Forwarded-For $http_x_forwarded_for;
      add_header X-Seen-Forwarded-Proto $http_x_forwarded_proto;
      add_header X-Seen-Host $http_host;
      return 200 "${body}";
    }`;
}

function appServer(port: number, body: string): string {
  return `  server {
    listen 127.0.0.1:${port};
${appLocations(body)}
  }`;
}

function proxyServer(port: number, appPort: number): string {
  // Same header work drain-proxy does: keep Host, append X-Forwarded-For, add X-Forwarded-Proto.
  return `  upstream app {
    server 127.0.0.1:${appPort};
    keepalive 64;
    keepalive_requests 10000000;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }
  }`;
}

/**
 * The WebSocket proxy of the bench: the usual Upgrade hand-over, same forwarding headers as
 * drain-proxy, and read/send timeouts long enough that idle WebSockets are not cut mid-bench.
 */
function webSocketProxyServer(port: number, appPort: number): string {
  return `  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://127.0.0.1:${appPort};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
    }
  }`;
}

async function startNginx(
  name: string, prefix: string, port: number, serverBlocks: string, limits?: ConnectionLimits,
): Promise<NginxInstance> {
  mkdirSync(prefix, { recursive: true });
  const configPath = join(prefix, 'nginx.conf');
  const errorLog = join(prefix, 'error.log');
  writeFileSync(configPath, mainConfig(prefix, serverBlocks, limits));
  // -e: nginx opens its compiled-in error log before reading the config; keep even that in the temp dir.
  const child = start(nginxBinary(), ['-p', prefix, '-c', configPath, '-e', errorLog, '-g', 'daemon off;'], { name, group: true });
  try {
    await waitFor200(`http://127.0.0.1:${port}/`, child);
  } catch (error) {
    const log = existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '';
    throw new Error(`${name} did not start: ${(error as Error).message}\n${log}`);
  }
  return { name, port, child, errorLog };
}

export function startNginxApp(prefix: string, port: number, body: string): Promise<NginxInstance> {
  return startNginx('app (nginx)', prefix, port, appServer(port, body));
}

export function startNginxProxy(prefix: string, port: number, appPort: number): Promise<NginxInstance> {
  return startNginx('nginx proxy', prefix, port, proxyServer(port, appPort));
}

/**
 * The app over h2c (HTTP/2 with prior knowledge, cleartext) on `h2Port`, for the HTTP/2 bench; the
 * same body over HTTP/1.1 on `checkPort`, which is how readiness is checked.
 */
export function startNginxH2cApp(prefix: string, h2Port: number, checkPort: number, body: string): Promise<NginxInstance> {
  const server = `  server {
    listen 127.0.0.1:${h2Port} http2;
    listen 127.0.0.1:${checkPort};
    http2_max_concurrent_streams 1024;
${appLocations(body)}
  }`;
  return startNginx('h2c app (nginx)', prefix, checkPort, server);
}

/** Which protocol an HTTP/2 proxy speaks to the app: as drain-proxy's UPSTREAM_PROTOCOL. */
export type H2UpstreamProtocol = 'h2c' | 'http1';

/**
 * nginx as an HTTP/2 proxy doing drain-proxy's job: h2c with prior knowledge on `port` (and
 * HTTP/1.1 on `checkPort`, how readiness is checked), each request forwarded with the same header
 * work (Host kept, X-Forwarded-For appended, X-Forwarded-Proto set).
 *
 * - `h2c`: `grpc_pass grpc://` is nginx's only HTTP/2 upstream; it forwards any request, gRPC or
 *   not, as an HTTP/2 stream. Unlike drain-proxy it does not multiplex: each request in flight holds
 *   an upstream connection of its own (kept alive and reused), so `keepalive` is set above the
 *   bench's concurrency (h2load -c x -m) and nothing is reconnected mid-run.
 * - `http1`: `proxy_pass` over HTTP/1.1 with a keep-alive pool, as in the HTTP/1.1 bench.
 */
export function startNginxH2Proxy(
  prefix: string, port: number, checkPort: number, upstream: H2UpstreamProtocol, appPort: number, concurrency: number,
): Promise<NginxInstance> {
  const location = upstream === 'h2c'
    ? `      grpc_pass grpc://app;
      grpc_set_header Host $http_host;
      grpc_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      grpc_set_header X-Forwarded-Proto $scheme;`
    : `      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;`;
  const server = `  upstream app {
    server 127.0.0.1:${appPort};
    keepalive ${Math.max(64, 2 * concurrency)};
    keepalive_requests 10000000;
  }
  server {
    listen 127.0.0.1:${port} http2;
    listen 127.0.0.1:${checkPort};
    http2_max_concurrent_streams 1024;
    location / {
${location}
    }
  }`;
  return startNginx(`nginx HTTP/2 proxy (${upstream} upstream)`, prefix, checkPort, server);
}

/** Each proxied WebSocket takes two of nginx's connections (client and upstream). */
export function startNginxWebSocketProxy(
  prefix: string, port: number, appPort: number, limits: ConnectionLimits,
): Promise<NginxInstance> {
  return startNginx('nginx WebSocket proxy', prefix, port, webSocketProxyServer(port, appPort), limits);
}
