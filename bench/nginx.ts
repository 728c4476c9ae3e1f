// The bench's nginx instances: the app (a fixed body), and nginx as the proxy drain-proxy is compared with,
// for HTTP/1.1, WebSocket and HTTP/2, each doing drain-proxy's header work.
import { forwardingHeaders, nginxConfig, startNginx, type NginxSettings } from '../harness/nginx.ts';
import type { Child } from '../harness/processes.ts';
import { INTERMEDIATE } from '../src/listeners/tls-credentials.ts';

/**
 * keepalive_requests is raised from nginx's default 1000 so that neither wrk's connections nor the
 * proxies' upstream connections are recycled mid-run; drain-proxy has no such limit, and reconnects
 * would be charged to nginx.
 */
const BENCH_HTTP = `  keepalive_requests 10000000;
  keepalive_timeout 620s;`;

function startBenchNginx(name: string, prefix: string, readyPort: number, servers: string, settings?: NginxSettings): Promise<Child> {
  return startNginx(name, prefix, `http://127.0.0.1:${readyPort}/`, nginxConfig(prefix, servers, { workerConnections: 4096, http: BENCH_HTTP, ...settings }));
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

/** An upstream block with a keep-alive pool. */
function upstream(appPort: number, keepalive = 64): string {
  return `  upstream app {
    server 127.0.0.1:${appPort};
    keepalive ${keepalive};
    keepalive_requests 10000000;
  }`;
}

const HTTP1_UPSTREAM = `      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
${forwardingHeaders('proxy_set_header')}`;

export function startNginxApp(prefix: string, port: number, body: string): Promise<Child> {
  return startBenchNginx('app (nginx)', prefix, port, `  server {
    listen 127.0.0.1:${port};
${appLocations(body)}
  }`);
}

export function startNginxProxy(prefix: string, port: number, appPort: number): Promise<Child> {
  return startBenchNginx('nginx proxy', prefix, port, `${upstream(appPort)}
  server {
    listen 127.0.0.1:${port};
    location / {
${HTTP1_UPSTREAM}
    }
  }`);
}

/**
 * The app over h2c (HTTP/2 with prior knowledge, cleartext) on `h2Port`, for the HTTP/2 bench; the
 * same body over HTTP/1.1 on `checkPort`, which is how readiness is checked.
 */
export function startNginxH2cApp(prefix: string, h2Port: number, checkPort: number, body: string): Promise<Child> {
  return startBenchNginx('h2c app (nginx)', prefix, checkPort, `  server {
    listen 127.0.0.1:${h2Port} http2;
    listen 127.0.0.1:${checkPort};
    http2_max_concurrent_streams 1024;
${appLocations(body)}
  }`);
}

/** Which protocol an HTTP/2 proxy speaks to the app: as drain-proxy's UPSTREAM_PROTOCOL. */
export type H2UpstreamProtocol = 'h2c' | 'http1';

/** The PEM files a TLS listener serves: the certificate with its chain after it, and the key. */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

const TLS13 = /^TLS_/;

/**
 * TLS terminated as drain-proxy does it (src/listeners/tls-credentials.ts, Mozilla "intermediate"):
 * TLS 1.2 and 1.3, its TLS 1.2 ciphers (`ssl_ciphers`) and TLS 1.3 suites (`Ciphersuites`), its
 * groups and the client's cipher preference. The ML-KEM groups are left out: Debian's nginx has
 * OpenSSL 3.0, which does not know them (nor does h2load, built with it), so every server settles
 * on X25519 with these clients.
 */
function tlsDirectives(tls: TlsFiles): string {
  const ciphers = INTERMEDIATE.ciphers.split(':');
  const curves = INTERMEDIATE.ecdhCurve.split(':').filter((curve) => !curve.includes('MLKEM'));
  return `    ssl_certificate ${tls.certFile};
    ssl_certificate_key ${tls.keyFile};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ${ciphers.filter((cipher) => !TLS13.test(cipher)).join(':')};
    ssl_conf_command Ciphersuites ${ciphers.filter((cipher) => TLS13.test(cipher)).join(':')};
    ssl_ecdh_curve ${curves.join(':')};
    ssl_prefer_server_ciphers ${INTERMEDIATE.honorCipherOrder ? 'on' : 'off'};`;
}

/**
 * nginx as an HTTP/2 proxy doing drain-proxy's job: h2c with prior knowledge on `port` (and
 * HTTP/1.1 on `checkPort`, how readiness is checked). With `tls`, `port` serves TLS instead, ALPN
 * `h2` and `http/1.1` as drain-proxy's TLS port does (`listen ... ssl http2`, nginx 1.22's syntax).
 *
 * - `h2c`: `grpc_pass grpc://` is nginx's only HTTP/2 upstream; it forwards any request, gRPC or
 *   not, as an HTTP/2 stream. Unlike drain-proxy it does not multiplex: each request in flight holds
 *   an upstream connection of its own (kept alive and reused), so `keepalive` is set above the
 *   bench's concurrency (h2load -c x -m) and nothing is reconnected mid-run.
 * - `http1`: `proxy_pass` over HTTP/1.1 with a keep-alive pool, as in the HTTP/1.1 bench.
 */
export function startNginxH2Proxy(
  prefix: string, port: number, checkPort: number, protocol: H2UpstreamProtocol, appPort: number, concurrency: number, tls?: TlsFiles,
): Promise<Child> {
  const location = protocol === 'h2c' ? `      grpc_pass grpc://app;\n${forwardingHeaders('grpc_set_header')}` : HTTP1_UPSTREAM;
  const name = `nginx ${tls === undefined ? 'HTTP/2' : 'TLS'} proxy (${protocol} upstream)`;
  return startBenchNginx(name, prefix, checkPort, `${upstream(appPort, Math.max(64, 2 * concurrency))}
  server {
    listen 127.0.0.1:${port}${tls === undefined ? '' : ' ssl'} http2;
    listen 127.0.0.1:${checkPort};
${tls === undefined ? '' : `${tlsDirectives(tls)}\n`}    http2_max_concurrent_streams 1024;
    location / {
${location}
    }
  }`);
}

/**
 * The WebSocket proxy: the usual Upgrade hand-over, and read/send timeouts long enough that idle
 * WebSockets are not cut mid-bench. Each proxied WebSocket takes two of nginx's connections
 * (client and upstream).
 */
export function startNginxWebSocketProxy(prefix: string, port: number, appPort: number, settings: NginxSettings): Promise<Child> {
  return startBenchNginx('nginx WebSocket proxy', prefix, port, `  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://127.0.0.1:${appPort};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
${forwardingHeaders('proxy_set_header')}
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
    }
  }`, settings);
}
