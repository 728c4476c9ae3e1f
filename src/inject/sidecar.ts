/**
 * The drain-proxy container and the hooks around it, from chart values: what
 * charts/drain-proxy/templates/_sidecar.tpl and _pod.tpl render, in the same
 * order, so the chart and `inject` give the same pod (a test renders both and
 * compares them).
 */
import { ConfigError, loadConfig } from '../config/index.ts';
import type { ChartValues, ValueTree } from './chart-values.ts';
import { ManifestError } from './errors.ts';
import { finalScrapeWaitMs, finalScrapeWaitSeconds, httpPortName, imageReference, tcpPortName } from './values.ts';

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: ValueTree;
}

/** What the pod tells about the app: the port the proxy forwards to, and how its health is checked. */
export interface AppFacts {
  upstreamPort: number;
  health: string;
}

type Setting = readonly [env: string, valuePath: string, read: (v: ChartValues, app: AppFacts) => unknown];

function upstreamUrl(host: string, port: number): string {
  const bracketed = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `http://${bracketed}:${Math.trunc(port)}`;
}

/** drain-proxy.sidecar.tlsDir: where the proxy mounts the tls.secretName Secret, whole (a subPath mount never sees its updates). */
export const TLS_DIR = '/etc/drain-proxy/tls';
/** drain-proxy.sidecar.tlsVolumeName */
export const TLS_VOLUME = 'drain-proxy-tls';

function tlsFile(v: ChartValues, key: string): string | undefined {
  return v.tls.secretName ? `${TLS_DIR}/${key}` : undefined;
}

/** drain-proxy.sidecar.settings: one variable per value, in the chart's order. */
const SETTINGS: readonly Setting[] = [
  ['LISTEN_PORT', 'listen.port', (v) => v.listen.port],
  ['LISTEN_ADDRESS', 'listen.address', (v) => v.listen.address],
  ['PROXY_PROTOCOL', 'listen.proxyProtocol', (v) => v.listen.proxyProtocol],
  ['HTTP_PORTS', 'http.ports', (v) => v.http.ports.map((p) => `${Math.trunc(p.port)}:${Math.trunc(p.upstreamPort)}`).join(',')],
  ['TLS_CERT_FILE', 'tls.certKey', (v) => tlsFile(v, v.tls.certKey)],
  ['TLS_KEY_FILE', 'tls.keyKey', (v) => tlsFile(v, v.tls.keyKey)],
  ['UPSTREAM', 'upstream.host', (v, app) => upstreamUrl(String(v.upstream.host), app.upstreamPort)],
  ['UPSTREAM_PROTOCOL', 'upstream.protocol', (v) => v.upstream.protocol],
  ['UPSTREAM_CONNECT_TIMEOUT', 'upstream.connectTimeout', (v) => v.upstream.connectTimeout],
  ['UPSTREAM_RESPONSE_TIMEOUT', 'upstream.responseTimeout', (v) => v.upstream.responseTimeout],
  ['ADMIN_PORT', 'admin.port', (v) => v.admin.port],
  ['ADMIN_ADDRESS', 'admin.address', (v) => v.admin.address],
  ['UPSTREAM_HEALTH', 'upstream.health', (_v, app) => app.health],
  ['HEALTH_INTERVAL', 'upstream.healthInterval', (v) => v.upstream.healthInterval],
  ['DRAIN_DELAY', 'drain.delaySeconds', (v) => `${Math.trunc(v.drain.delaySeconds)}s`],
  ['DRAIN_TIMEOUT', 'drain.timeoutSeconds', (v) => `${Math.trunc(v.drain.timeoutSeconds)}s`],
  ['DRAIN_IDLE_CLOSE', 'drain.idleClose', (v) => v.drain.idleClose],
  ['CLOSE_SPREAD', 'drain.closeSpread', (v) => v.drain.closeSpread || v.websocket.closeSpread],
  ['DRAIN_TOKEN', 'drain.token', (v) => v.drain.token],
  ['WS_CLOSE_CODE', 'websocket.closeCode', (v) => v.websocket.closeCode],
  ['WS_CLOSE_REASON', 'websocket.closeReason', (v) => v.websocket.closeReason],
  ['WS_CLOSE_TIMEOUT', 'websocket.closeTimeout', (v) => v.websocket.closeTimeout],
  ['TCP_PORTS', 'tcp.ports', (v) => v.tcp.ports.map((p) => `${Math.trunc(p.port)}:${Math.trunc(p.upstreamPort)}`).join(',')],
  ['TCP_IDLE_CLOSE', 'tcp.idleClose', (v) => v.tcp.idleClose],
  ['KEEPALIVE_TIMEOUT', 'http.keepAliveTimeout', (v) => v.http.keepAliveTimeout],
  ['HEADER_TIMEOUT', 'http.headerTimeout', (v) => v.http.headerTimeout],
  ['REQUEST_BODY_TIMEOUT', 'http.requestBodyTimeout', (v) => v.http.requestBodyTimeout],
  ['MAX_HEADER_SIZE', 'http.maxHeaderSize', (v) => v.http.maxHeaderSize],
  ['MAX_HEADER_COUNT', 'http.maxHeaderCount', (v) => v.http.maxHeaderCount],
  ['MAX_CONNECTIONS', 'http.maxConnections', (v) => v.http.maxConnections],
  ['MAX_CONCURRENT_STREAMS', 'http.maxConcurrentStreams', (v) => v.http.maxConcurrentStreams],
  ['STREAM_RESET_BURST', 'http.streamResetBurst', (v) => v.http.streamResetBurst],
  ['STREAM_RESET_RATE', 'http.streamResetRate', (v) => v.http.streamResetRate],
  ['FORWARDED_HEADERS', 'http.forwardedHeaders', (v) => v.http.forwardedHeaders],
  ['TRUSTED_PROXIES', 'http.trustedProxies', (v) => v.http.trustedProxies],
  ['FINAL_SCRAPE_WAIT', 'monitoring.finalScrapeWait', (v) => finalScrapeWaitText(v)],
  ['ACCESS_LOG', 'log.access', (v) => v.log.access],
  ['LOG_LEVEL', 'log.level', (v) => v.log.level],
];

/** drain-proxy.sidecar.finalScrapeWait: off, 17s or 750ms. */
function finalScrapeWaitText(v: ChartValues): string | undefined {
  const ms = finalScrapeWaitMs(v);
  if (ms === undefined) return undefined;
  if (ms === 0) return 'off';
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** As the chart writes a value: booleans on/off, numbers as integers, empty values left out. */
function envText(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  if (typeof value === 'number') return String(Math.trunc(value));
  const textValue = String(value);
  return textValue === '' ? undefined : textValue;
}

/** The variables the values set, without HOST_IP and extraEnv. */
export function settingsEnv(v: ChartValues, app: AppFacts): EnvVar[] {
  const env: EnvVar[] = [];
  for (const [name, , read] of SETTINGS) {
    const value = envText(read(v, app));
    if (value !== undefined) env.push({ name, value });
  }
  return env;
}

/**
 * The proxy's own checks on that environment (src/config): what the proxy
 * would refuse at start is refused here, naming the value to change.
 */
export function checkProxyConfig(env: readonly EnvVar[]): void {
  try {
    loadConfig({ ...Object.fromEntries(env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value])), HOST_IP: '10.0.0.1' });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const named = SETTINGS.find(([name]) => err.message.startsWith(`invalid ${name}=`));
    throw new ManifestError(named === undefined ? err.message : `${named[1]}: the proxy refuses ${err.message}`);
  }
}

/** drain-proxy.sidecar.env: the settings, HOST_IP and MEMORY_LIMIT from the downward API, then extraEnv. */
export function sidecarEnv(v: ChartValues, app: AppFacts): EnvVar[] {
  const settings = settingsEnv(v, app);
  const names = new Set(['HOST_IP', 'MEMORY_LIMIT', ...settings.map((e) => e.name)]);
  for (const extra of v.extraEnv) {
    if (names.has(String(extra.name))) {
      throw new ManifestError(`extraEnv sets ${String(extra.name)}, which the chart already sets from its values: set the matching value instead (see charts/drain-proxy/values.yaml)`);
    }
  }
  return [
    ...settings,
    { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
    { name: 'MEMORY_LIMIT', valueFrom: { resourceFieldRef: { containerName: v.containerName, resource: 'limits.memory' } } },
    ...(structuredClone(v.extraEnv) as unknown as EnvVar[]),
  ];
}

/** drain-proxy.sidecar.probes, in the order the chart renders them (its dict iterates sorted). */
export function sidecarProbes(v: ChartValues): ValueTree {
  const probe = (path: string, timings: ValueTree | undefined): ValueTree => ({
    httpGet: { path, port: Math.trunc(v.admin.port), scheme: 'HTTP' },
    ...structuredClone(timings ?? {}),
  });
  return {
    livenessProbe: probe('/livez', v.probes?.liveness),
    readinessProbe: probe('/readyz', v.probes?.readiness),
    startupProbe: probe('/livez', v.probes?.startup),
  };
}

/** drain-proxy.app.preStop: GET /drain?wait=1 on the admin port number, with the drain token when set. */
export function drainPreStop(v: ChartValues): ValueTree {
  const httpGet: ValueTree = { path: '/drain?wait=1', port: Math.trunc(v.admin.port), scheme: 'HTTP' };
  if (v.drain.token) httpGet.httpHeaders = [{ name: 'X-Drain-Token', value: String(v.drain.token) }];
  return { httpGet };
}

/** drain-proxy.compatibility.securityContext: on OpenShift without runAsUser, runAsGroup, fsGroup (the SCC assigns them) and an empty seLinuxOptions. */
function adaptedSecurityContext(securityContext: ValueTree, openShift: boolean): ValueTree {
  const adapted = structuredClone(securityContext);
  if (openShift) {
    for (const key of ['runAsUser', 'runAsGroup', 'fsGroup']) delete adapted[key];
    const seLinux = adapted.seLinuxOptions;
    if (seLinux === undefined || seLinux === null || seLinux === '' || (typeof seLinux === 'object' && Object.keys(seLinux).length === 0)) delete adapted.seLinuxOptions;
  }
  return adapted;
}

/** drain-proxy.sidecar.container */
export function sidecarContainer(v: ChartValues, mode: 'native' | 'classic', app: AppFacts, openShift = false): ValueTree {
  const container: ValueTree = {
    name: v.containerName,
    image: imageReference(v),
    imagePullPolicy: v.image.pullPolicy || 'IfNotPresent',
  };
  if (mode === 'native') container.restartPolicy = 'Always';
  container.ports = [
    { name: v.listen.portName, containerPort: Math.trunc(v.listen.port), protocol: 'TCP' },
    { name: v.admin.portName, containerPort: Math.trunc(v.admin.port), protocol: 'TCP' },
    ...v.http.ports.map((p) => ({ name: httpPortName(p), containerPort: Math.trunc(p.port), protocol: 'TCP' })),
    ...v.tcp.ports.map((p) => ({ name: tcpPortName(p), containerPort: Math.trunc(p.port), protocol: 'TCP' })),
  ];
  container.env = sidecarEnv(v, app);
  if (v.tls.secretName) container.volumeMounts = [{ name: TLS_VOLUME, mountPath: TLS_DIR, readOnly: true }];
  Object.assign(container, sidecarProbes(v));
  if (mode === 'classic') container.lifecycle = { preStop: drainPreStop(v) };
  container.terminationMessagePolicy = v.terminationMessagePolicy || 'FallbackToLogsOnError';
  if (v.resources && Object.keys(v.resources).length > 0) container.resources = structuredClone(v.resources);
  if (v.securityContext && Object.keys(v.securityContext).length > 0) container.securityContext = adaptedSecurityContext(v.securityContext, openShift);
  return container;
}

/** drain-proxy.pod.volumes: the volumes the sidecar mounts (the tls.secretName Secret), none without TLS. */
export function sidecarVolumes(v: ChartValues): ValueTree[] {
  return v.tls.secretName ? [{ name: TLS_VOLUME, secret: { secretName: v.tls.secretName } }] : [];
}

/** drain-proxy.pod.gracePeriod: the explicit value, or drain.timeoutSeconds + graceMarginSeconds + the final scrape wait. */
export function gracePeriod(v: ChartValues): number {
  if (v.terminationGracePeriodSeconds === null || v.terminationGracePeriodSeconds === undefined) {
    return Math.trunc(v.drain.timeoutSeconds) + Math.trunc(v.graceMarginSeconds ?? 5) + finalScrapeWaitSeconds(v);
  }
  return Math.trunc(v.terminationGracePeriodSeconds);
}
