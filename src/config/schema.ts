/**
 * The configuration contract: every environment variable drain-proxy reads,
 * its default and its meaning. The README's table and the Helm chart's env list
 * are derived from this object, so it is the single place a variable is added.
 */
import { isIP } from 'node:net';
import {
  ValueError,
  countOf,
  parseBoolean,
  parseChoice,
  parseDuration,
  parsePort,
  parseSize,
} from './values.ts';
import { parseTrustedProxies } from './trusted-proxies.ts';

export interface Variable<T> {
  readonly env: string;
  /** An older name still accepted in its place (one of the two may be set, not both). */
  readonly formerEnv?: string;
  readonly default: string;
  readonly doc: string;
  readonly parse: (text: string) => T;
}

function variable<T>(env: string, defaultText: string, parse: (text: string) => T, doc: string, formerEnv?: string): Variable<T> {
  return formerEnv === undefined ? { env, default: defaultText, doc, parse } : { env, formerEnv, default: defaultText, doc, parse };
}

export interface UpstreamAddress {
  readonly host: string;
  readonly port: number;
  readonly url: string;
}

function parseUpstream(text: string): UpstreamAddress {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new ValueError('expected a URL such as http://127.0.0.1:8080');
  }
  if (url.protocol !== 'http:') throw new ValueError('expected an http:// URL (the app in the same pod)');
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '' || url.username !== '') {
    throw new ValueError('expected scheme, host and port only (no path, query or credentials)');
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { host, port: url.port === '' ? 80 : Number(url.port), url: `http://${url.host}` };
}

/** The app's host (UPSTREAM's) at another port: where an HTTP_PORTS entry forwards to. */
export function upstreamAt(upstream: UpstreamAddress, port: number): UpstreamAddress {
  const host = upstream.host.includes(':') ? `[${upstream.host}]` : upstream.host;
  return { host: upstream.host, port, url: `http://${host}:${port}` };
}

export type UpstreamHealth = { readonly kind: 'tcp' } | { readonly kind: 'http'; readonly path: string };

function parseHealth(text: string): UpstreamHealth {
  const value = text.trim();
  if (value === 'tcp') return { kind: 'tcp' };
  if (/^\/[\x21-\x7e]*$/.test(value)) return { kind: 'http', path: value };
  throw new ValueError('expected tcp or an HTTP path starting with / such as /healthz');
}

function parseAddress(text: string): string {
  const value = text.trim();
  if (value === '' || isIP(value) !== 0) return value;
  throw new ValueError('expected an IP address, or empty for all interfaces');
}

function parseOptionalAddress(text: string): string {
  const value = text.trim();
  if (value === '' || isIP(value) !== 0) return value;
  throw new ValueError('expected an IP address (the downward API status.hostIP), or empty');
}

function parseCloseCode(text: string): number {
  const value = text.trim();
  if (value === '1012' || value === '1001') return Number(value);
  throw new ValueError('expected 1012 (Service Restart) or 1001 (Going Away)');
}

function parseCloseReason(text: string): string {
  if (Buffer.byteLength(text) > 123) throw new ValueError('expected at most 123 bytes (a close frame carries 125 with the code)');
  return text;
}

/** A `listenPort:upstreamPort` pair of `HTTP_PORTS` or `TCP_PORTS`. */
export interface PortMapping {
  readonly listen: number;
  readonly upstream: number;
}

function parsePortMappings(text: string): readonly PortMapping[] {
  const value = text.trim();
  if (value === '') return [];
  const mappings: PortMapping[] = [];
  for (const item of value.split(',')) {
    const match = /^\s*(\d{1,5}):(\d{1,5})\s*$/.exec(item);
    const listen = Number(match?.[1]);
    const upstream = Number(match?.[2]);
    if (match === null || listen < 1 || listen > 65535 || upstream < 1 || upstream > 65535) {
      throw new ValueError(`expected comma-separated listenPort:upstreamPort pairs of ports 1-65535, such as 8081:9081 (got ${JSON.stringify(item.trim())})`);
    }
    if (mappings.some((mapping) => mapping.listen === listen)) throw new ValueError(`listen port ${listen} appears twice`);
    mappings.push({ listen, upstream });
  }
  return mappings;
}

/** Empty (unset), or the path of a file read at startup. */
function parseOptionalPath(text: string): string {
  const value = text.trim();
  if (value === '' || !/[\0\n]/.test(value)) return value;
  throw new ValueError('expected a file path, or empty');
}

/** `off` or `0` (disabled, returned as 0), or a positive duration in milliseconds. */
function parseOptionalDuration(text: string): number {
  const value = text.trim().toLowerCase();
  if (value === 'off' || value === '0') return 0;
  try {
    return parseDuration(value);
  } catch {
    throw new ValueError('expected off, or a duration such as 750ms, 5s, 2m or a number of seconds');
  }
}

/** Empty (the kubelet's `/dev/termination-log`, only when it exists), `off`, or an absolute path. */
function parseTerminationMessagePath(text: string): string {
  const value = text.trim();
  if (value === '' || value === 'off' || value.startsWith('/')) return value;
  throw new ValueError('expected an absolute path, off, or empty for /dev/termination-log when the kubelet provides it');
}

/** What MEMORY_LIMIT holds: bytes, 0 when off, or `auto` (the container's limit, read at startup). */
export type MemoryLimit = number | 'auto';

const MEMORY_SIZE = /^(\d+)(ki|mi|gi)?$/i;
const MEMORY_UNITS: Record<string, number> = { '': 1, ki: 2 ** 10, mi: 2 ** 20, gi: 2 ** 30 };
/** Below this a limit leaves no room for the proxy itself (about 40 MB idle, most of it the Node binary). */
const MIN_MEMORY_LIMIT = 64 * 2 ** 20;

/** `MEMORY_LIMIT`'s parser, which takes a Kubernetes memory quantity as the chart writes one ("256Mi"). */
export function parseMemoryLimit(text: string): MemoryLimit {
  const value = text.trim().toLowerCase();
  if (value === 'auto') return 'auto';
  if (value === 'off' || value === '0') return 0;
  const match = MEMORY_SIZE.exec(value);
  const bytes = match === null ? Number.NaN : Number(match[1]) * MEMORY_UNITS[match[2] ?? ''];
  if (!Number.isSafeInteger(bytes) || bytes < MIN_MEMORY_LIMIT) {
    throw new ValueError('expected auto, off, or a size of at least 64Mi: bytes (as the downward API gives limits.memory) or with a Ki, Mi or Gi suffix');
  }
  return bytes;
}

const UPSTREAM_PROTOCOLS = ['http1', 'h2c'] as const;
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
const anyText = (text: string): string => text;

export const schema = {
  listenPort: variable('LISTEN_PORT', '8000', parsePort,
    'Public port the pod\'s Service targets: HTTP/1.1, WebSocket, and HTTP/2 (cleartext with prior knowledge, h2c, as gRPC uses; over TLS by ALPN when `TLS_CERT_FILE` is set).'),
  listenAddress: variable('LISTEN_ADDRESS', '', parseAddress,
    'Address the public ports (`LISTEN_PORT`, `HTTP_PORTS`, `TCP_PORTS`) bind to; empty binds every interface.'),
  upstream: variable('UPSTREAM', 'http://127.0.0.1:8080', parseUpstream,
    'The app in the same pod: `http://host:port`. The proxy never connects anywhere else.'),
  upstreamProtocol: variable('UPSTREAM_PROTOCOL', 'http1', (text) => parseChoice(text, UPSTREAM_PROTOCOLS),
    'Protocol HTTP/2 clients\' streams take to the app: `http1` (each stream becomes an HTTP/1.1 request) or `h2c` (stream to stream over cleartext HTTP/2 with prior knowledge: gRPC apps). HTTP/1.1 clients always reach the app over HTTP/1.1.'),
  upstreamResponseTimeout: variable('UPSTREAM_RESPONSE_TIMEOUT', 'off', parseOptionalDuration,
    'When the app has not begun its response this long after the request head, the client gets 504 and the app request is dropped: HTTP/1.1 (its app connection is closed) and HTTP/2 streams (`:status 504`, the app\'s stream reset or its HTTP/1.1 request aborted). Checked about once a second. `off` leaves stalls to the app\'s own timeouts and the drain deadline; streaming responses are unaffected once their head has come.'),
  upstreamConnectTimeout: variable('UPSTREAM_CONNECT_TIMEOUT', '5s', parseDuration,
    'Give up connecting to the app after this long: HTTP gets 504, a `TCP_PORTS` connection is closed.'),
  adminPort: variable('ADMIN_PORT', '9901', parsePort,
    'Port of `/readyz`, `/livez`, `/metrics`, `/drain` and `/status`.'),
  adminAddress: variable('ADMIN_ADDRESS', '', parseAddress,
    'Address the admin port binds to; empty binds every interface (probes come from the node).'),
  upstreamHealth: variable('UPSTREAM_HEALTH', 'tcp', parseHealth,
    'How the app\'s health is checked: `tcp` (connect) or an HTTP path such as `/healthz` (2xx/3xx is healthy).'),
  healthInterval: variable('HEALTH_INTERVAL', '1s', parseDuration,
    'Time between upstream health checks (each check also times out after this long).'),
  drainDelay: variable('DRAIN_DELAY', '5s', parseDuration,
    'After a drain starts, keep accepting new connections this long while endpoint removal propagates; then stop listening.'),
  drainTimeout: variable('DRAIN_TIMEOUT', '25s', parseDuration,
    'Deadline, counted from the drain\'s start, for all in-flight work; what is still open then is cut (exit code 3).'),
  drainIdleClose: variable('DRAIN_IDLE_CLOSE', '1s', parseDuration,
    'During a drain, close HTTP/1.1 keep-alive connections idle this long (`0` closes idle ones at once); their clients reconnect with their next request. A connection accepted during the drain gets at least 1 s to send its first request. HTTP/2 sessions, idle or not, wait for their moment in `CLOSE_SPREAD`.'),
  closeSpread: variable('CLOSE_SPREAD', '5s', parseDuration,
    'From t0 + DRAIN_DELAY, each long-lived connection is told to go at its own moment in this window: a WebSocket gets its close frame, an event stream ends after a complete event, an HTTP/2 session (a gRPC channel) gets its GOAWAY and serves new streams normally until then. Each moment is uniform over the window, and the moments of each kind are evenly spaced (so all of them together are too): the other pods get reconnects at a steady connections/window rate instead of at once. Semantics: [docs/drain.md](docs/drain.md). Clamped to fit DRAIN_TIMEOUT. `WS_CLOSE_SPREAD`, its older name, is still accepted (not both).',
    'WS_CLOSE_SPREAD'),
  drainToken: variable('DRAIN_TOKEN', '', anyText,
    'If set, `/drain` is also accepted from any address with header `X-Drain-Token: <token>`.'),
  hostIp: variable('HOST_IP', '', parseOptionalAddress,
    'The node\'s address (downward API `status.hostIP`); `/drain` is accepted from it because kubelet hooks come from there.'),
  wsCloseCode: variable('WS_CLOSE_CODE', '1012', parseCloseCode,
    'Status code of the close frame sent to WebSocket clients at drain: `1012` (Service Restart) or `1001` (Going Away).'),
  wsCloseReason: variable('WS_CLOSE_REASON', 'draining', parseCloseReason,
    'Reason text of that close frame (at most 123 bytes of UTF-8).'),
  wsCloseTimeout: variable('WS_CLOSE_TIMEOUT', '2s', parseDuration,
    'After sending the close frame, wait this long for the closing handshake (client reply, then the app\'s) before closing both connections.'),
  keepAliveTimeout: variable('KEEPALIVE_TIMEOUT', '620s', parseDuration,
    'Close client connections idle this long outside a drain. Keep it above the idle timeout of every load balancer in front (AWS ALB 60 s, Google Cloud 600 s).'),
  headerTimeout: variable('HEADER_TIMEOUT', '10s', parseDuration,
    'A request head must be complete this long after its first byte, or the client gets 408 (slowloris).'),
  requestBodyTimeout: variable('REQUEST_BODY_TIMEOUT', '60s', parseOptionalDuration,
    'HTTP/1.1: the longest wait for the next bytes of a request body (Content-Length or chunked) while the app is ready to take them, as nginx\'s `client_body_timeout`. Beyond it the client gets 408 when no response has begun (otherwise both connections are closed) and the app connection is dropped; checked about once a second. `off` disables it. HTTP/2 streams are not covered (a gRPC stream may rightly send nothing for long).'),
  maxHeaderSize: variable('MAX_HEADER_SIZE', '16k', (text) => parseSize(text, 1024, 1 << 20),
    'Largest request or response head in bytes; a larger request gets 431, a larger response 502. HTTP/2: advertised as SETTINGS_MAX_HEADER_LIST_SIZE; a larger header block gets 431 or, once the client has the setting, a stream reset (ENHANCE_YOUR_CALM).'),
  maxHeaderCount: variable('MAX_HEADER_COUNT', '100',
    countOf('header lines', 1, 10_000),
    'Most header lines in a request (431 beyond) or response (502 beyond); HTTP/2 streams with more header fields are reset (ENHANCE_YOUR_CALM).'),
  maxConnections: variable('MAX_CONNECTIONS', '10000',
    countOf('connections', 1, 1_000_000),
    'Most client connections open at once, on all the public ports and `TCP_PORTS` together. Beyond it a new connection is closed as soon as it is accepted, before anything is read, and counted in `drain_proxy_connections_refused_total`. Each connection holds two file descriptors (client and app): keep the limit under half the process\'s `ulimit -n`.'),
  maxConcurrentStreams: variable('MAX_CONCURRENT_STREAMS', '100',
    countOf('streams', 1, 100_000),
    'HTTP/2: most streams a client session may have open at once, advertised as SETTINGS_MAX_CONCURRENT_STREAMS (nginx 128, Envoy 100). Streams the client sent before acknowledging the setting are refused beyond it with REFUSED_STREAM (clients retry those); a client that exceeds it once acknowledged gets GOAWAY(PROTOCOL_ERROR). Sessions that reach it are counted in `drain_proxy_limits_enforced_total{reason="h2_concurrent_streams"}`.'),
  streamResetBurst: variable('STREAM_RESET_BURST', '1000',
    countOf('stream resets', 1, 1_000_000),
    'HTTP/2: stream resets (RST_STREAM) a client session may send at once before `STREAM_RESET_RATE` applies (rapid reset, CVE-2023-44487). nghttp2 enforces it: GOAWAY(INTERNAL_ERROR), the session closed; drain-proxy counts it (`drain_proxy_limits_enforced_total{reason="h2_stream_resets"}`). Streams reset in the read that brought them never reach the app.'),
  streamResetRate: variable('STREAM_RESET_RATE', '33',
    countOf('stream resets per second', 1, 1_000_000),
    'HTTP/2: stream resets per second a client session earns back after `STREAM_RESET_BURST` (a token bucket, nghttp2\'s defaults).'),
  memoryLimit: variable('MEMORY_LIMIT', 'auto', parseMemoryLimit,
    'The container\'s memory limit in bytes (the chart sets it from `resources.limits.memory` through the downward API), or with a Ki/Mi/Gi suffix; `auto` reads the cgroup limit at startup, `off` disables the guard. When resident memory passes 90% of it, new connections are closed as soon as accepted (`drain_proxy_connections_refused_total{reason="memory_pressure"}`) and the connections holding the most buffered bytes are closed (`drain_proxy_limits_enforced_total{reason="memory_shed"}`) until it is back under 80%. Readiness is not changed by it.'),
  forwardedHeaders: variable('FORWARDED_HEADERS', 'on', parseBoolean,
    'Append the client address to `X-Forwarded-For` and set `X-Forwarded-Proto`: the client\'s value when the peer is in `TRUSTED_PROXIES`, otherwise the scheme it came by (`https` on a TLS port, `http`). `off` passes both headers through untouched.'),
  trustedProxies: variable('TRUSTED_PROXIES', 'private', parseTrustedProxies,
    'Peers (comma-separated addresses and CIDRs; with `PROXY_PROTOCOL` the header\'s source) whose `X-Forwarded-Proto` is passed on: an ingress controller in front knows the client\'s scheme. `private` is loopback, RFC 1918, 100.64.0.0/10, link-local, `::1` and `fc00::/7`, where in-cluster peers come from; it can be combined (`private,203.0.113.0/24`). `none` trusts nobody. X-Forwarded-For is appended to whatever the peer.'),
  finalScrapeWait: variable('FINAL_SCRAPE_WAIT', '15s', parseOptionalDuration,
    'After a drain has ended, the process stays up (admin port only) until every scraper that fetched `/metrics` in the last `FINAL_SCRAPE_WAIT` before the end has fetched it once more, so the drain\'s outcome (duration, closes by reason, the cut) reaches Prometheus; and at most this long after the end. Nothing scraping: no wait. Set it to the scrape interval plus 2 s (the chart does), and keep `terminationGracePeriodSeconds` above `DRAIN_TIMEOUT` + this. `off` exits at once.'),
  terminationMessagePath: variable('TERMINATION_MESSAGE_PATH', '', parseTerminationMessagePath,
    'Where the one-line JSON drain summary goes when the drain ends (the container\'s termination message: `kubectl describe pod`). Empty: `/dev/termination-log`, only when it exists (the kubelet mounts it; nothing is created elsewhere); a path is written, created if needed; `off` writes none.'),
  accessLog: variable('ACCESS_LOG', 'off', parseBoolean,
    'Log one line per request at info level.'),
  logLevel: variable('LOG_LEVEL', 'info', (text) => parseChoice(text, LOG_LEVELS),
    'pino log level: trace, debug, info, warn, error, fatal or silent.'),
  httpPorts: variable('HTTP_PORTS', '', parsePortMappings,
    'More public HTTP ports, comma-separated `listenPort:upstreamPort` pairs (`8081:9081,50051:50052`): each listens on `LISTEN_ADDRESS` and serves HTTP/1.1, WebSocket and h2c (TLS and the PROXY protocol too when they are on) exactly as `LISTEN_PORT` does, to the host of `UPSTREAM` at `upstreamPort` over `UPSTREAM_PROTOCOL`, and is drained the same way. Metrics and access logs name each request\'s port (label `listener`).'),
  proxyProtocol: variable('PROXY_PROTOCOL', 'off', parseBoolean,
    '`on`: every connection to the public HTTP ports (`LISTEN_PORT`, `HTTP_PORTS`) must begin with a PROXY protocol header, version 1 or 2 (AWS NLB, HAProxy `send-proxy-v2`); the client address it carries is the one X-Forwarded-For, `TRUSTED_PROXIES` and logs use (a v2 `LOCAL` header, a load balancer\'s health check, keeps the socket\'s). A connection without a valid header within `HEADER_TIMEOUT` is closed and counted in `drain_proxy_connections_refused_total`, and nothing of it reaches the app. Only behind a load balancer that always sends one: [docs/security.md](docs/security.md). `TCP_PORTS` carry bytes as they come, a PROXY header included.'),
  tlsCertFile: variable('TLS_CERT_FILE', '', parseOptionalPath,
    'With `TLS_KEY_FILE`: the public HTTP ports serve TLS (1.2 and 1.3, Mozilla\'s "intermediate" settings) with ALPN `h2` and `http/1.1`, and send `X-Forwarded-Proto: https`. The PEM certificate, its chain after it. Both files are re-read when they change (a Secret volume\'s `..data` swap is seen at once, anything else within 2 s) without dropping a connection; a new pair that does not load is logged and the one in use kept. The admin port stays cleartext.'),
  tlsKeyFile: variable('TLS_KEY_FILE', '', parseOptionalPath,
    'The PEM private key (unencrypted) of `TLS_CERT_FILE`; set both or neither.'),
  tcpPorts: variable('TCP_PORTS', '', parsePortMappings,
    'Raw TCP ports, comma-separated `listenPort:upstreamPort` pairs (`5432:15432,6379:16379`): each listens on `LISTEN_ADDRESS` and forwards bytes both ways, half-close kept, to the host of `UPSTREAM` at `upstreamPort`. Drained like the public port, without a hint: they stop listening at t0 + `DRAIN_DELAY` and open connections are left to finish until the deadline.'),
  tcpIdleClose: variable('TCP_IDLE_CLOSE', 'off', parseOptionalDuration,
    'During a drain, close `TCP_PORTS` connections that have carried no bytes either way for this long (idle pooled database connections, which reconnect elsewhere); `off` leaves every connection to the deadline. Off by default: a connection waiting for a slow query or a blocking command carries no bytes either.'),
} as const;

export type Schema = typeof schema;
export type Config = { readonly [K in keyof Schema]: ReturnType<Schema[K]['parse']> };
