/**
 * The chart values a workload is wired with: the chart's defaults, then
 * `--values` files and `--set` assignments in the order given, then the
 * workload's `drain-proxy.io/*` annotations. Checked as the chart checks them
 * (templates/_validate.tpl), with the chart's messages.
 */
import { CHART_DEFAULTS, CHART_ONLY_SECTIONS, type ChartValues, type ValueTree } from './chart-values.ts';
import { ManifestError } from './errors.ts';
import { parseDuration } from '../config/values.ts';

/** Value paths whose contents are passed on as they are (Kubernetes objects, lists). */
const OPEN_PATHS = new Set(['global', 'image.pullSecrets', 'resources', 'securityContext', 'probes.startup', 'probes.readiness', 'probes.liveness', 'extraEnv', 'http.ports', 'tcp.ports']);

/** The app's port comes from the pod, never from a value. */
const FROM_THE_POD: Readonly<Record<string, string>> = {
  'upstream.port': 'inject takes the app\'s port from the pod: annotate the pod template with drain-proxy.io/app-port instead of setting upstream.port',
};

export function isTree(value: unknown): value is ValueTree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

/** Refuses keys values.yaml does not have, so that a misspelt value is not silently ignored. */
function checkKnown(layer: ValueTree, defaults: ValueTree, prefix: string): void {
  for (const [key, value] of Object.entries(layer)) {
    const at = prefix === '' ? key : `${prefix}.${key}`;
    if (FROM_THE_POD[at] !== undefined) throw new ManifestError(FROM_THE_POD[at]);
    if (prefix === '' && (key in CHART_ONLY_SECTIONS || key === 'global')) continue;
    if (!(key in defaults)) {
      throw new ManifestError(`unknown value ${at}: charts/drain-proxy/values.yaml lists the values (inject takes the pod's part of them)`);
    }
    if (OPEN_PATHS.has(at)) continue;
    const known = defaults[key];
    if (isTree(known) && isTree(value)) checkKnown(value, known, at);
  }
}

function merge(target: ValueTree, layer: ValueTree): void {
  for (const [key, value] of Object.entries(layer)) {
    const current = target[key];
    if (isTree(current) && isTree(value)) merge(current, value);
    else target[key] = clone(value);
  }
}

/** One layer of values (a --values file, a --set, an annotation), checked for unknown keys. */
export function valuesLayer(layer: unknown, source: string): ValueTree {
  if (layer === null || layer === undefined) return {};
  if (!isTree(layer)) throw new ManifestError(`${source}: expected a mapping of chart values (as in charts/drain-proxy/values.yaml)`);
  try {
    checkKnown(layer, CHART_DEFAULTS as unknown as ValueTree, '');
  } catch (err) {
    if (err instanceof ManifestError) throw new ManifestError(`${source}: ${err.message}`);
    throw err;
  }
  return layer;
}

/** The defaults with each layer merged over them, in order. */
export function mergeValues(layers: readonly ValueTree[]): ChartValues {
  const values = clone(CHART_DEFAULTS) as unknown as ValueTree;
  for (const layer of layers) merge(values, layer);
  return values as unknown as ChartValues;
}

/** Whether any layer sets the value at a dotted path. */
export function setByLayers(layers: readonly ValueTree[], dotted: string): boolean {
  return layers.some((layer) => {
    let node: unknown = layer;
    for (const key of dotted.split('.')) {
      if (!isTree(node) || !(key in node)) return false;
      node = node[key];
    }
    return true;
  });
}

/** A layer setting one dotted path: `{ drain: { timeoutSeconds: 40 } }` for `drain.timeoutSeconds`. */
export function layerAt(dotted: string, value: unknown): ValueTree {
  const keys = dotted.split('.');
  let layer: unknown = value;
  for (const key of keys.reverse()) layer = { [key]: layer };
  return layer as ValueTree;
}

/**
 * `--set path=value`, one assignment each (no comma splitting, so a value may
 * hold commas). Paths are dotted keys with `[n]` list indexes
 * (`tcp.ports[0].port=5432`). Values are typed as Helm types them: integers,
 * true/false and null; anything else is a string.
 */
export function parseSet(assignment: string): ValueTree {
  const eq = assignment.indexOf('=');
  if (eq <= 0) throw new ManifestError(`--set ${assignment}: expected path=value, e.g. --set drain.timeoutSeconds=40`);
  const path = assignment.slice(0, eq);
  const text = assignment.slice(eq + 1);
  const value: unknown = /^-?(0|[1-9][0-9]*)$/.test(text) ? Number(text) : text === 'true' ? true : text === 'false' ? false : text === 'null' ? null : text;
  const steps: (string | number)[] = [];
  for (const part of path.split('.')) {
    const m = /^([A-Za-z_][A-Za-z0-9_-]*)((?:\[[0-9]+\])*)$/.exec(part);
    if (m === null) throw new ManifestError(`--set ${assignment}: ${JSON.stringify(part)} is not a key (keys are letters, digits, _ and -, lists take [n])`);
    steps.push(m[1]);
    for (const index of m[2].matchAll(/\[([0-9]+)\]/g)) steps.push(Number(index[1]));
  }
  const root: ValueTree = {};
  let node: any = root;
  steps.forEach((step, i) => {
    const last = i === steps.length - 1;
    if (last) {
      node[step] = value;
      return;
    }
    const wantList = typeof steps[i + 1] === 'number';
    const next = node[step];
    if (wantList ? !Array.isArray(next) : !isTree(next)) node[step] = wantList ? [] : {};
    node = node[step];
  });
  return valuesLayer(root, `--set ${assignment}`);
}

// ---------------------------------------------------------------------------
// Checks: the chart's (templates/_validate.tpl), with its messages.

const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function integer(value: unknown, path: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ManifestError(`${path} must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`);
  }
  return value;
}

function text(value: unknown, path: string): string {
  if (typeof value !== 'string') throw new ManifestError(`${path} must be a string (got ${JSON.stringify(value)})`);
  return value;
}

function portName(value: unknown, path: string): string {
  const name = text(value, path);
  if (!PORT_NAME.test(name) || name.length > 15 || !/[a-z]/.test(name)) {
    throw new ManifestError(`${path} ${JSON.stringify(name)} is not a port name: lowercase letters, digits and -, at most 15 characters, at least one letter`);
  }
  return name;
}

/** The Helm globals the chart reads. */
function globals(v: ChartValues): ValueTree {
  return isTree(v.global) ? v.global : {};
}

/** drain-proxy.images.image: [registry/]repository, @digest or :tag; global.imageRegistry overrides image.registry. */
export function imageReference(v: ChartValues): string {
  const registry = String(globals(v).imageRegistry || v.image.registry || '').replace(/\/$/, '');
  const name = registry === '' ? v.image.repository : `${registry}/${v.image.repository}`;
  return v.image.digest ? `${name}@${v.image.digest}` : `${name}:${String(v.image.tag)}`;
}

/** drain-proxy.images.pullSecretNames: global.imagePullSecrets then image.pullSecrets, names or {name}, each once. */
export function pullSecretNames(v: ChartValues): string[] {
  const names: string[] = [];
  for (const list of [globals(v).imagePullSecrets, v.image.pullSecrets]) {
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) throw new ManifestError('image.pullSecrets and global.imagePullSecrets are lists of Secret names (or {name: ...})');
    for (const entry of list) {
      const name = String(isTree(entry) ? entry.name : entry);
      if (!/^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/.test(name)) throw new ManifestError(`image pull secret ${JSON.stringify(name)} is not a Secret name (lowercase letters, digits, - and .)`);
      if (!names.includes(name)) names.push(name);
    }
  }
  return names;
}

/**
 * drain-proxy.compatibility.openshift: whether securityContexts are adapted to
 * OpenShift's restricted SCC, from global.compatibility.openshift.adaptSecurityContext:
 * force, disabled, or auto (the default: when the cluster serves
 * security.openshift.io/v1, which inject learns only from --api-versions).
 */
export function openShift(v: ChartValues, apiVersions: readonly string[]): boolean {
  const compatibility = globals(v).compatibility;
  const openshift = isTree(compatibility) ? compatibility.openshift : undefined;
  const adapt = (isTree(openshift) ? openshift.adaptSecurityContext : undefined) || 'auto';
  if (!['auto', 'force', 'disabled'].includes(String(adapt))) {
    throw new ManifestError(`global.compatibility.openshift.adaptSecurityContext is ${JSON.stringify(String(adapt))}: use auto, force or disabled`);
  }
  return adapt === 'force' || (adapt === 'auto' && apiVersions.includes('security.openshift.io/v1'));
}

export function tcpPortName(entry: { port: number; name?: string }): string {
  return entry.name ?? `tcp-${entry.port}`;
}

export function httpPortName(entry: { port: number; name?: string }): string {
  return entry.name ?? `http-${entry.port}`;
}

/** The Secret name the chart's schema accepts for tls.secretName, and the keys for tls.certKey/keyKey. */
const SECRET_NAME = /^([a-z0-9]([-.a-z0-9]*[a-z0-9])?)?$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;

/** The newest Kubernetes minor when this release was made, for --kube-version left out; native sidecars from 1.29. */
export const DEFAULT_KUBE_VERSION = '1.35';

/** A Kubernetes version as [major, minor], from 1.29, v1.29 or 1.29.3. */
export function parseKubeVersion(textValue: string): [number, number] {
  const m = /^v?([0-9]+)\.([0-9]+)(\.[0-9]+)?([-+].*)?$/.exec(textValue.trim());
  if (m === null) throw new ManifestError(`--kube-version ${JSON.stringify(textValue)}: expected a Kubernetes version such as 1.29`);
  return [Number(m[1]), Number(m[2])];
}

/** Native sidecars are on by default from Kubernetes 1.29. */
export function nativeSidecars(kube: readonly [number, number]): boolean {
  return kube[0] > 1 || (kube[0] === 1 && kube[1] >= 29);
}

export function sidecarMode(values: ChartValues, kube: readonly [number, number]): 'native' | 'classic' {
  if (values.mode === 'auto') return nativeSidecars(kube) ? 'native' : 'classic';
  return values.mode as 'native' | 'classic';
}

/** drain-proxy.sidecar.modeReason, for inject: what chose the mode. */
export function modeReason(values: ChartValues, kube: readonly [number, number]): string {
  if (values.mode !== 'auto') return `mode is ${values.mode}`;
  return `auto: Kubernetes ${kube.join('.')} (drain-proxy inject --kube-version, ${DEFAULT_KUBE_VERSION} when not given) is ${nativeSidecars(kube) ? 'at or after' : 'before'} 1.29`;
}

/**
 * The chart's checks on values as a whole, for the cluster version given;
 * throws a ManifestError saying what to change. The proxy's own checks on the
 * resulting environment come after (settings.ts).
 */
export function checkValues(v: ChartValues, kube: readonly [number, number]): void {
  if (kube[0] < 1 || (kube[0] === 1 && kube[1] < 23)) {
    throw new ManifestError(`needs Kubernetes 1.23 or later (its HorizontalPodAutoscaler is autoscaling/v2, its PodDisruptionBudget policy/v1); this cluster is ${kube.join('.')}`);
  }
  const mode = v.mode ?? 'auto';
  if (!['auto', 'native', 'classic'].includes(mode)) throw new ManifestError(`mode ${JSON.stringify(mode)} is not one of auto, native, classic`);
  if (mode === 'native' && !nativeSidecars(kube)) {
    throw new ManifestError(`mode native needs Kubernetes 1.29 or later (native sidecars are on by default from 1.29); this cluster is ${kube.join('.')}: set mode to classic or auto`);
  }
  const containerName = text(v.containerName, 'containerName');
  if (!PORT_NAME.test(containerName) || containerName.length > 63) throw new ManifestError(`containerName ${JSON.stringify(containerName)} is not a container name (lowercase letters, digits and -)`);
  if (typeof v.image?.repository !== 'string' || v.image.repository === '') {
    throw new ManifestError('image.repository is required: the registry path of the image built from drain-proxy\'s Dockerfile (or --image)');
  }
  if (!v.image.digest) {
    if (v.image.tag === '' || v.image.tag === null || v.image.tag === undefined) throw new ManifestError(`image ${v.image.repository} has neither a tag nor a digest: set one`);
    if (typeof v.image.tag !== 'string') {
      throw new ManifestError(`the tag of image ${v.image.repository} must be a string (YAML reads an unquoted 1.10 as the number 1.1): quote it, e.g. tag: "1.10"`);
    }
  }
  pullSecretNames(v);
  openShift(v, []);
  if (v.image.digest && !/^sha256:[a-f0-9]{64}$/.test(v.image.digest)) throw new ManifestError(`image.digest ${JSON.stringify(v.image.digest)} is not sha256:<64 hex digits>`);
  if (!['Always', 'IfNotPresent', 'Never'].includes(v.image.pullPolicy)) throw new ManifestError(`image.pullPolicy ${JSON.stringify(v.image.pullPolicy)} is not one of Always, IfNotPresent, Never`);

  const listenPort = integer(v.listen?.port, 'listen.port', 1, 65535);
  const adminPort = integer(v.admin?.port, 'admin.port', 1, 65535);
  const listenName = portName(v.listen.portName, 'listen.portName');
  const adminName = portName(v.admin.portName, 'admin.portName');
  if (typeof v.upstream?.host !== 'string' || v.upstream.host === '') throw new ManifestError('upstream.host is required (usually 127.0.0.1)');
  if (listenPort === adminPort) throw new ManifestError(`listen.port and admin.port are both ${listenPort}: give the admin port another number`);
  // Every port the proxy listens on is bound once, and no upstream port is one of them (the proxy refuses both).
  const owners = new Map<number, string>([[listenPort, 'listen.port'], [adminPort, 'admin.port']]);
  const names = [listenName, adminName];
  const extra: [string, number, number][] = [];
  for (const [section, list, nameOf] of [['http.ports', v.http?.ports, httpPortName], ['tcp.ports', v.tcp?.ports, tcpPortName]] as const) {
    if (!Array.isArray(list)) throw new ManifestError(`${section} must be a list of {port, upstreamPort, name}`);
    for (const entry of list) {
      if (!isTree(entry)) throw new ManifestError(`each ${section} entry is a mapping {port, upstreamPort, name}`);
      const port = integer(entry.port, `${section}[].port`, 1, 65535);
      const upstreamPort = integer(entry.upstreamPort, `${section}[].upstreamPort`, 1, 65535);
      const owner = owners.get(port);
      if (owner !== undefined) throw new ManifestError(`${section}: port ${port} is already taken by ${owner} (the proxy binds each port once): give it another number`);
      owners.set(port, section);
      const name = portName(nameOf(entry), `${section}[].name`);
      if (names.includes(name)) throw new ManifestError(`${section}: port name ${name} is used twice (port names are unique within a pod): set a distinct name`);
      names.push(name);
      extra.push([section, port, upstreamPort]);
    }
  }
  for (const [section, , upstreamPort] of extra) {
    const owner = owners.get(upstreamPort);
    if (owner !== undefined) throw new ManifestError(`${section}: upstreamPort ${upstreamPort} is a port of the proxy itself (${owner}): set it to the port your app listens on`);
  }
  if (typeof v.listen.proxyProtocol !== 'boolean') throw new ManifestError(`listen.proxyProtocol must be true or false (got ${JSON.stringify(v.listen.proxyProtocol)})`);
  const tls = v.tls;
  if (!isTree(tls) || typeof tls.secretName !== 'string' || !SECRET_NAME.test(tls.secretName) || tls.secretName.length > 253) {
    throw new ManifestError(`tls.secretName ${JSON.stringify(tls?.secretName)} is not a Secret name (lowercase letters, digits, - and .), or empty for no TLS`);
  }
  for (const key of ['certKey', 'keyKey'] as const) {
    if (typeof tls[key] !== 'string' || !SECRET_KEY.test(tls[key])) throw new ManifestError(`tls.${key} ${JSON.stringify(tls[key])} is not a key of a Secret (letters, digits, -, _ and .)`);
  }
  if (['127.0.0.1', '::1', 'localhost'].includes(v.admin.address ?? '')) {
    throw new ManifestError('admin.address must not be a loopback address: probes and the preStop hook come from the node. Leave it empty');
  }
  if (listenName === adminName) throw new ManifestError('listen.portName and admin.portName must differ (port names are unique within a pod)');

  const delay = integer(v.drain?.delaySeconds, 'drain.delaySeconds', 0, 86400);
  const timeout = integer(v.drain?.timeoutSeconds, 'drain.timeoutSeconds', 1, 86400);
  if (delay >= timeout) {
    throw new ManifestError(
      `drain.delaySeconds (${delay}) must be less than drain.timeoutSeconds (${timeout}): the deadline counts from the drain's start and includes the delay. Raise drain.timeoutSeconds or lower drain.delaySeconds`,
    );
  }
  if (v.drain.closeSpread && v.websocket?.closeSpread) {
    throw new ManifestError(
      `drain.closeSpread (${v.drain.closeSpread}) and websocket.closeSpread (${v.websocket.closeSpread}) are both set: websocket.closeSpread is the older name of drain.closeSpread. Keep only drain.closeSpread`,
    );
  }
  const margin = integer(v.graceMarginSeconds, 'graceMarginSeconds', 0, 86400);
  const wait = finalScrapeWaitSeconds(v);
  if (v.terminationGracePeriodSeconds !== null && v.terminationGracePeriodSeconds !== undefined) {
    const grace = integer(v.terminationGracePeriodSeconds, 'terminationGracePeriodSeconds', 1, 2 ** 31 - 1);
    if (grace <= timeout) {
      throw new ManifestError(
        `terminationGracePeriodSeconds (${grace}) must be greater than drain.timeoutSeconds (${timeout}), or the kubelet kills the pod before the drain deadline. Raise it (or leave it empty: drain.timeoutSeconds + graceMarginSeconds${wait > 0 ? ' + the final scrape wait' : ''} = ${timeout + margin + wait}), or lower drain.timeoutSeconds`,
      );
    }
    if (grace <= timeout + wait) {
      throw new ManifestError(
        `terminationGracePeriodSeconds (${grace}) must be greater than drain.timeoutSeconds (${timeout}) + the final scrape wait (${wait}s, monitoring.finalScrapeWait: after its drain the proxy waits for the scrape that carries the drain's outcome), or the kubelet kills it first. Raise it (or leave it empty: ${timeout + margin + wait}), or lower monitoring.finalScrapeWait`,
      );
    }
  }
  for (const [section, parts] of Object.entries(CHART_ONLY_SECTIONS)) {
    const tree = (v as unknown as ValueTree)[section];
    for (const part of parts) {
      const node = part === '' ? tree : isTree(tree) ? tree[part] : undefined;
      if (isTree(node) && node.enabled === true) {
        throw new ManifestError(`${part === '' ? section : `${section}.${part}`}.enabled: inject wires pods only; the optional objects come from the library chart (docs/helm.md)`);
      }
    }
  }
  if (!Array.isArray(v.extraEnv)) throw new ManifestError('extraEnv must be a list of EnvVar');
  for (const section of ['resources', 'securityContext'] as const) {
    if (v[section] !== null && !isTree(v[section])) throw new ManifestError(`${section} must be a mapping`);
  }
}

/**
 * drain-proxy.monitoring.finalScrapeWaitMs: monitoring.finalScrapeWait in
 * milliseconds (off: 0); undefined when empty. The chart also derives it from
 * an enabled monitor, which inject never has.
 */
export function finalScrapeWaitMs(v: ChartValues): number | undefined {
  const text = String(v.monitoring?.finalScrapeWait ?? '').trim();
  if (text === '') return undefined;
  if (text === 'off') return 0;
  try {
    return parseDuration(text);
  } catch {
    throw new ManifestError(`monitoring.finalScrapeWait: ${JSON.stringify(text)} is not a duration: use off, 750ms, 5s, 2m, 1h or a number of seconds`);
  }
}

/** drain-proxy.pod.finalScrapeWaitSeconds: the wait in whole seconds, rounded up; 0 without one. */
export function finalScrapeWaitSeconds(v: ChartValues): number {
  return Math.ceil((finalScrapeWaitMs(v) ?? 0) / 1000);
}
