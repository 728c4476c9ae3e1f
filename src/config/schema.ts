/**
 * The configuration contract: every environment variable drain-proxy reads,
 * its default and its meaning. The README's table and the Helm chart's env list
 * are derived from this object, so it is the single place a variable is added.
 */
import { isIP } from 'node:net';
import {
  ValueError,
  parseBoolean,
  parseChoice,
  parseDuration,
  parseInteger,
  parsePort,
  parseSize,
} from './values.ts';

export interface Variable<T> {
  readonly env: string;
  readonly default: string;
  readonly doc: string;
  readonly parse: (text: string) => T;
}

function variable<T>(env: string, defaultText: string, parse: (text: string) => T, doc: string): Variable<T> {
  return { env, default: defaultText, doc, parse };
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

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
const anyText = (text: string): string => text;

export const schema = {
  listenPort: variable('LISTEN_PORT', '8000', parsePort,
    'Public port the pod\'s Service targets (HTTP/1.1, WebSocket).'),
  listenAddress: variable('LISTEN_ADDRESS', '', parseAddress,
    'Address the public port binds to; empty binds every interface.'),
  upstream: variable('UPSTREAM', 'http://127.0.0.1:8080', parseUpstream,
    'The app in the same pod: `http://host:port`. The proxy never connects anywhere else.'),
  upstreamConnectTimeout: variable('UPSTREAM_CONNECT_TIMEOUT', '5s', parseDuration,
    'Give up connecting to the app after this long and answer 504.'),
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
    'During a drain, close keep-alive connections idle this long (`0` closes idle ones at once).'),
  drainToken: variable('DRAIN_TOKEN', '', anyText,
    'If set, `/drain` is also accepted from any address with header `X-Drain-Token: <token>`.'),
  hostIp: variable('HOST_IP', '', parseOptionalAddress,
    'The node\'s address (downward API `status.hostIP`); `/drain` is accepted from it because kubelet hooks come from there.'),
  keepAliveTimeout: variable('KEEPALIVE_TIMEOUT', '620s', parseDuration,
    'Close client connections idle this long outside a drain. Keep it above the idle timeout of every load balancer in front (AWS ALB 60 s, Google Cloud 600 s).'),
  headerTimeout: variable('HEADER_TIMEOUT', '10s', parseDuration,
    'A request head must be complete this long after its first byte, or the client gets 408 (slowloris).'),
  maxHeaderSize: variable('MAX_HEADER_SIZE', '16k', (text) => parseSize(text, 1024, 1 << 20),
    'Largest request or response head in bytes; a larger request gets 431, a larger response 502.'),
  maxHeaderCount: variable('MAX_HEADER_COUNT', '100',
    (text) => parseInteger(text, 1, 10_000, 'expected a number of header lines between 1 and 10000'),
    'Most header lines in a request (431 beyond) or response (502 beyond).'),
  forwardedHeaders: variable('FORWARDED_HEADERS', 'on', parseBoolean,
    'Append the client address to `X-Forwarded-For` and add `X-Forwarded-Proto: http` when absent.'),
  accessLog: variable('ACCESS_LOG', 'off', parseBoolean,
    'Log one line per request at info level.'),
  logLevel: variable('LOG_LEVEL', 'info', (text) => parseChoice(text, LOG_LEVELS),
    'pino log level: trace, debug, info, warn, error, fatal or silent.'),
} as const;

export type Schema = typeof schema;
export type Config = { readonly [K in keyof Schema]: ReturnType<Schema[K]['parse']> };
