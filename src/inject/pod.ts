/**
 * Wiring one pod (a Pod or a workload's pod template) to drain-proxy, and
 * undoing it.
 *
 * inject:
 *   1. the app port: the pod's only TCP container port, or the one
 *      `drain-proxy.io/app-port` names (number or name);
 *   2. every regular container's preStop becomes GET /drain?wait=1 on the
 *      admin port number (the kubelet sends SIGTERM once the drain is over);
 *      hooks it replaces are kept in `drain-proxy.io/original-prestop`;
 *   3. the proxy takes the app port's name (Services that target it by name
 *      now reach the proxy); the app's port is renamed `app-<name>` and the app
 *      container's probes and hooks that named it follow;
 *   4. the sidecar: native (initContainers, restartPolicy Always) from
 *      Kubernetes 1.29, classic (a regular container) before; the pod
 *      annotations the chart writes (drain-proxy/mode, drain-proxy/mode-reason,
 *      kubectl.kubernetes.io/default-container naming the app); the image's
 *      pull secrets added to the pod's;
 *   5. terminationGracePeriodSeconds raised to cover the drain; with
 *      tls.secretName, the Secret's volume added to the pod's volumes;
 *   6. `drain-proxy.io/injected` records every key it added or changed, so that
 *      uninject restores the pod exactly.
 */
import type { ChartValues, ValueTree } from './chart-values.ts';
import { annotationLayers, APP_PORT, DEFAULT_CONTAINER, INJECT, INJECTED, MODE, MODE_REASON, ORIGINAL_PRESTOP } from './annotations.ts';
import { ManifestError } from './errors.ts';
import { checkProxyConfig, drainPreStop, gracePeriod, sidecarContainer, sidecarVolumes, type EnvVar } from './sidecar.ts';
import { checkValues, httpPortName, isTree, mergeValues, modeReason, openShift, pullSecretNames, setByLayers, sidecarMode, tcpPortName } from './values.ts';
import { annotation, type PodTarget } from './workloads.ts';

export interface InjectOptions {
  /** --values, --set and the flags, in order; the pod's annotations go on top. */
  readonly layers: readonly ValueTree[];
  readonly kube: readonly [number, number];
  /** APIs the cluster serves (--api-versions), as the chart reads .Capabilities.APIVersions. */
  readonly apiVersions?: readonly string[];
}

/** The app port of a wired pod, for retargeting the Services in front of it. */
export interface WiredApp {
  readonly target: PodTarget;
  readonly number: number;
  /** The port's name before inject, if it had one. */
  readonly name: string | undefined;
  /** The name of the proxy's public port. */
  readonly proxyPortName: string;
}

export type PodOutcome = { readonly wired: WiredApp } | { readonly leftAlone: string | undefined };

/** What inject changed in a pod: enough to put every key back as it was. */
export interface InjectRecord {
  /** The app container. */
  app: string;
  /** [the app port's name before, its name now], when it had a name. */
  port?: [string, string];
  /** imagePullSecrets names inject appended. */
  pullSecrets?: string[];
  /** Names of the volumes inject appended (the TLS Secret's). */
  volumes?: string[];
  /** Where the sidecar went: [list, container name]. */
  sidecar: ['initContainers' | 'containers', string];
  /** Keys that were absent: metadata, annotations, initContainers, imagePullSecrets, terminationGracePeriodSeconds, lifecycle/<container>, preStop/<container>, the annotations the chart writes. */
  added: string[];
  /** Keys whose value was replaced (or was null), with that value; left out when none. */
  was?: Record<string, unknown>;
}

const PROBES = ['livenessProbe', 'readinessProbe', 'startupProbe'] as const;
const HOOKS = ['postStart', 'preStop'] as const;
const HEALTH_PATH = /^\/[\x21-\x7e]*$/;
const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

interface Port {
  container: ValueTree;
  port: ValueTree | undefined;
  number: number;
}

function containersOf(spec: ValueTree, key: 'containers' | 'initContainers'): ValueTree[] {
  const list = spec[key];
  return Array.isArray(list) ? list.filter(isTree) : [];
}

function portsOf(container: ValueTree): ValueTree[] {
  return Array.isArray(container.ports) ? container.ports.filter(isTree) : [];
}

function nameOf(container: ValueTree): string {
  return typeof container.name === 'string' ? container.name : '(unnamed)';
}

/** The handlers of a container (probes, lifecycle hooks) that can name a port. */
function portReferences(container: ValueTree): ValueTree[] {
  const handlers: ValueTree[] = [];
  const lifecycle = isTree(container.lifecycle) ? container.lifecycle : {};
  for (const holder of [...PROBES.map((k) => container[k]), ...HOOKS.map((k) => lifecycle[k])]) {
    if (!isTree(holder)) continue;
    for (const kind of ['httpGet', 'tcpSocket']) if (isTree(holder[kind])) handlers.push(holder[kind]);
  }
  return handlers;
}

function renameReferences(container: ValueTree, from: string, to: string): void {
  for (const handler of portReferences(container)) if (handler.port === from) handler.port = to;
}

function portLabel(port: Port): string {
  const name = typeof port.port?.name === 'string' ? `${port.port.name} ` : '';
  return `${nameOf(port.container)}: ${name}${port.number}`;
}

/** The app port, from the annotation or as the pod's only TCP port; undefined when the pod has none. */
function appPort(target: PodTarget, containers: ValueTree[]): Port | undefined {
  const candidates: Port[] = [];
  for (const container of containers) {
    for (const port of portsOf(container)) {
      if ((port.protocol ?? 'TCP') === 'TCP' && typeof port.containerPort === 'number') candidates.push({ container, port, number: port.containerPort });
    }
  }
  const chosen = annotation(target, APP_PORT);
  if (chosen === undefined) {
    if (candidates.length <= 1) return candidates[0];
    throw new ManifestError(
      `several container ports could be the app's (${candidates.map(portLabel).join(', ')}): annotate the pod template with ${APP_PORT} set to the one drain-proxy goes in front of`,
    );
  }
  if (/^[0-9]+$/.test(chosen)) {
    const number = Number(chosen);
    const matches = candidates.filter((c) => c.number === number);
    if (matches.length === 1) return matches[0];
    if (matches.length > 1) throw new ManifestError(`${APP_PORT} ${chosen}: several containers declare port ${number} (${matches.map(portLabel).join(', ')}): name the port instead`);
    if (number < 1 || number > 65535) throw new ManifestError(`${APP_PORT} ${chosen}: not a port number`);
    // A port the app listens on without declaring it: only the only container can be meant.
    if (containers.length === 1) return { container: containers[0], port: undefined, number };
    throw new ManifestError(`${APP_PORT} ${chosen}: no container declares port ${number}: declare it in the app container's ports, or name a declared port`);
  }
  const matches = candidates.filter((c) => c.port?.name === chosen);
  if (matches.length !== 1) {
    throw new ManifestError(`${APP_PORT} ${JSON.stringify(chosen)}: no TCP container port has that name (${candidates.map(portLabel).join(', ') || 'none declared'})`);
  }
  return matches[0];
}

/** UPSTREAM_HEALTH: the app's readiness probe when it is a plain HTTP GET on the app port, else a TCP connect. */
function derivedHealth(app: Port): string {
  const probe = app.container.readinessProbe;
  const get = isTree(probe) && isTree(probe.httpGet) ? probe.httpGet : undefined;
  if (get === undefined) return 'tcp';
  const onAppPort = get.port === app.number || (typeof get.port === 'string' && get.port === app.port?.name);
  const plain = (get.scheme ?? 'HTTP') === 'HTTP' && get.host === undefined && (!Array.isArray(get.httpHeaders) || get.httpHeaders.length === 0);
  const path = typeof get.path === 'string' ? get.path : '/';
  return onAppPort && plain && HEALTH_PATH.test(path) ? path : 'tcp';
}

/** The name the app's own port takes: `app-<name>`, cut to the 15 characters a port name may have. */
function renamedAppPort(name: string): string {
  return `app-${name}`.slice(0, 15).replace(/-+$/, '');
}

/** The proxy's port numbers, each with what it is and how to move it. */
function proxyPortNumbers(values: ChartValues): Map<number, string> {
  const numbers = new Map<number, string>([
    [values.listen.port, `listen port (annotate drain-proxy.io/listen-port with a free port)`],
    [values.admin.port, `admin port (annotate drain-proxy.io/admin-port with a free port)`],
  ]);
  for (const entry of values.http.ports) numbers.set(entry.port, 'HTTP port (set http.ports to a free port)');
  for (const entry of values.tcp.ports) numbers.set(entry.port, 'TCP port (set tcp.ports to a free port)');
  return numbers;
}

function annotationsOf(holder: ValueTree): ValueTree {
  return isTree(holder.metadata) && isTree(holder.metadata.annotations) ? holder.metadata.annotations : {};
}

/** Makes `object[key]` a mapping (or a list) when it is absent or null, recording which it was. */
function ensure(object: ValueTree, key: string, recordKey: string, record: InjectRecord, shape: 'mapping' | 'list'): void {
  const current = object[key];
  if (shape === 'list' ? Array.isArray(current) : isTree(current)) return;
  if (current === undefined) record.added.push(recordKey);
  else if (current === null) (record.was ??= {})[recordKey] = null;
  else throw new ManifestError(`${recordKey} is not a ${shape}: fix the manifest`);
  object[key] = shape === 'list' ? [] : {};
}

/** Everything injectPod decided, before it changes anything. */
interface Plan {
  readonly target: PodTarget;
  readonly values: ChartValues;
  readonly mode: 'native' | 'classic';
  readonly containers: ValueTree[];
  readonly app: Port;
  readonly originalName: string | undefined;
  readonly newName: string | undefined;
  readonly sidecar: ValueTree;
  readonly hook: ValueTree;
  readonly grace: number;
  readonly pullSecrets: string[];
  readonly volumes: ValueTree[];
  readonly annotations: readonly [string, string][];
}

/** Whose name a port name in the pod is, among the names drain-proxy needs, and what to change. */
function nameClash(name: string, values: ChartValues, proxyPortName: string, newName: string | undefined): string | undefined {
  if (name === newName) return 'which the app port is renamed to (port names are unique within a pod): rename that port';
  if (name === values.admin.portName) return "which drain-proxy's admin port needs (port names are unique within a pod): rename that port, or set admin.portName";
  if (values.http.ports.some((entry) => httpPortName(entry) === name)) return 'which a drain-proxy HTTP port needs (port names are unique within a pod): rename that port, or name the http.ports entry';
  if (values.tcp.ports.some((entry) => tcpPortName(entry) === name)) return 'which a drain-proxy TCP port needs (port names are unique within a pod): rename that port, or name the tcp.ports entry';
  if (name === proxyPortName) return "which drain-proxy's listen port needs (port names are unique within a pod): rename that port, or set listen.portName";
  return undefined;
}

/** Every check, before anything changes: a plan, or why the pod is left alone. */
function planPod(target: PodTarget, options: InjectOptions): Plan | { readonly leftAlone: string | undefined } {
  const { holder, workload } = target;
  const spec = holder.spec as ValueTree;
  if (annotationsOf(workload)['helm.sh/hook'] !== undefined) return { leftAlone: undefined }; // a Helm hook runs once; nothing to drain
  if (spec.restartPolicy === 'Never' || spec.restartPolicy === 'OnFailure') return { leftAlone: undefined }; // runs to completion
  const inject = annotation(target, INJECT);
  if (inject === 'false') return { leftAlone: undefined };
  if (inject !== undefined && inject !== 'true') throw new ManifestError(`annotation ${INJECT} is ${JSON.stringify(inject)}: use "false" to leave the workload alone, "true" or nothing to wire it`);
  if (annotationsOf(holder)[INJECTED] !== undefined) return { leftAlone: undefined };

  const layers = [...options.layers, ...annotationLayers((name) => annotation(target, name))];
  const values = mergeValues(layers);
  checkValues(values, options.kube);
  const containers = containersOf(spec, 'containers');
  const initContainers = containersOf(spec, 'initContainers');
  if ([...containers, ...initContainers].some((c) => c.name === values.containerName)) return { leftAlone: undefined }; // wired already (by the chart, or by hand)
  if (containers.length === 0) throw new ManifestError('the pod has no containers');
  if (spec.hostNetwork === true) {
    throw new ManifestError(`hostNetwork: the pod shares the node's ports, so drain-proxy's ports would collide between pods: annotate it ${INJECT}: "false"`);
  }

  const app = appPort(target, containers);
  if (app === undefined) return { leftAlone: `no TCP container port to put drain-proxy in front of: left as it is (annotate ${APP_PORT} to choose one)` };
  const originalName = typeof app.port?.name === 'string' ? app.port.name : undefined;
  const proxyPortName = originalName ?? values.listen.portName;
  values.listen.portName = proxyPortName;
  if (proxyPortName === values.admin.portName) throw new ManifestError(`the app port is named ${proxyPortName}, like the proxy's admin port: set admin.portName to another name`);

  // Nothing else in the pod may hold the proxy's ports (one network namespace) or port names (unique in a pod).
  const numbers = proxyPortNumbers(values);
  const newName = originalName === undefined ? undefined : renamedAppPort(originalName);
  for (const container of [...initContainers, ...containers]) {
    for (const port of portsOf(container)) {
      const taken = typeof port.containerPort === 'number' ? numbers.get(port.containerPort) : undefined;
      if (taken !== undefined) throw new ManifestError(`container ${nameOf(container)} declares port ${port.containerPort}, drain-proxy's ${taken}`);
      const clash = port === app.port || typeof port.name !== 'string' ? undefined : nameClash(port.name, values, proxyPortName, newName);
      if (clash !== undefined) throw new ManifestError(`container ${nameOf(container)} has a port named ${String(port.name)}, ${clash}`);
    }
  }
  const appNumberTaken = numbers.get(app.number);
  if (appNumberTaken !== undefined) throw new ManifestError(`the app port ${app.number} is drain-proxy's ${appNumberTaken}`);
  if (newName !== undefined) {
    if (!PORT_NAME.test(newName) || !/[a-z]/.test(newName)) throw new ManifestError(`the app port's name ${originalName} cannot be renamed to a valid port name: annotate ${APP_PORT} with its number`);
    if (portReferences(app.container).some((handler) => handler.port === newName)) {
      throw new ManifestError(`container ${nameOf(app.container)} refers to a port named ${newName}, the name its port ${originalName} would take: rename that reference`);
    }
  }

  const volumes = sidecarVolumes(values);
  const podVolumes = Array.isArray(spec.volumes) ? spec.volumes.filter(isTree) : [];
  for (const volume of volumes) {
    if (podVolumes.some((own) => own.name === volume.name)) throw new ManifestError(`the pod has a volume named ${String(volume.name)}, the name of drain-proxy's TLS volume: rename it`);
  }

  const health = setByLayers(layers, 'upstream.health') ? values.upstream.health : derivedHealth(app);
  const mode = sidecarMode(values, options.kube);
  const sidecar = sidecarContainer(values, mode, { upstreamPort: app.number, health }, openShift(values, options.apiVersions ?? []));
  checkProxyConfig(sidecar.env as EnvVar[]);
  return {
    target,
    values,
    mode,
    containers,
    app,
    originalName,
    newName,
    sidecar,
    hook: drainPreStop(values),
    grace: gracePeriod(values),
    pullSecrets: pullSecretNames(values),
    volumes,
    annotations: [
      [MODE, mode],
      [MODE_REASON, modeReason(values, options.kube)],
      [DEFAULT_CONTAINER, nameOf(app.container)],
    ],
  };
}

/** Changes the pod as planned, recording each change in the pod's drain-proxy.io/injected annotation. */
function applyPlan(plan: Plan): WiredApp {
  const { holder } = plan.target;
  const spec = holder.spec as ValueTree;
  const record: InjectRecord = { app: nameOf(plan.app.container), sidecar: [plan.mode === 'native' ? 'initContainers' : 'containers', plan.values.containerName], added: [] };
  ensure(holder, 'metadata', 'metadata', record, 'mapping');
  const metadata = holder.metadata as ValueTree;
  ensure(metadata, 'annotations', 'annotations', record, 'mapping');
  const annotations = metadata.annotations as ValueTree;

  const replaced: Record<string, unknown> = {};
  for (const container of plan.containers) {
    const name = nameOf(container);
    ensure(container, 'lifecycle', `lifecycle/${name}`, record, 'mapping');
    const lifecycle = container.lifecycle as ValueTree;
    if ('preStop' in lifecycle) replaced[name] = lifecycle.preStop;
    else record.added.push(`preStop/${name}`);
    lifecycle.preStop = structuredClone(plan.hook);
  }
  if (plan.originalName !== undefined && plan.newName !== undefined) {
    plan.app.port!.name = plan.newName;
    renameReferences(plan.app.container, plan.originalName, plan.newName);
    record.port = [plan.originalName, plan.newName];
  }
  if (plan.mode === 'native') {
    ensure(spec, 'initContainers', 'initContainers', record, 'list');
    (spec.initContainers as unknown[]).push(plan.sidecar);
  } else {
    (spec.containers as unknown[]).push(plan.sidecar);
  }
  for (const [key, value] of plan.annotations) {
    if (annotations[key] !== undefined) continue; // the pod's own say wins
    annotations[key] = value;
    record.added.push(key);
  }
  if (plan.pullSecrets.length > 0) {
    ensure(spec, 'imagePullSecrets', 'imagePullSecrets', record, 'list');
    const list = spec.imagePullSecrets as unknown[];
    const present = new Set(list.map((entry) => (isTree(entry) ? entry.name : entry)));
    const appended = plan.pullSecrets.filter((name) => !present.has(name));
    for (const name of appended) list.push({ name });
    if (appended.length > 0) record.pullSecrets = appended;
  }
  if (plan.volumes.length > 0) {
    ensure(spec, 'volumes', 'volumes', record, 'list');
    (spec.volumes as unknown[]).push(...structuredClone(plan.volumes));
    record.volumes = plan.volumes.map((volume) => String(volume.name));
  }
  const currentGrace = spec.terminationGracePeriodSeconds;
  if (!(typeof currentGrace === 'number' && currentGrace >= plan.grace)) {
    if (currentGrace === undefined) record.added.push('terminationGracePeriodSeconds');
    else (record.was ??= {}).terminationGracePeriodSeconds = currentGrace;
    spec.terminationGracePeriodSeconds = plan.grace;
  }
  annotations[INJECTED] = JSON.stringify(record);
  if (Object.keys(replaced).length > 0) annotations[ORIGINAL_PRESTOP] = JSON.stringify(replaced);
  return { target: plan.target, number: plan.app.number, name: plan.originalName, proxyPortName: plan.values.listen.portName };
}

export function injectPod(target: PodTarget, options: InjectOptions): PodOutcome {
  const plan = planPod(target, options);
  return 'leftAlone' in plan ? plan : { wired: applyPlan(plan) };
}

function readRecord(annotations: ValueTree): { record: InjectRecord; replaced: Record<string, unknown> } {
  const fail = (): never => {
    throw new ManifestError(`annotation ${INJECTED} is not a record written by drain-proxy inject: remove the sidecar by hand`);
  };
  let record: InjectRecord;
  let replaced: Record<string, unknown> = {};
  try {
    record = JSON.parse(String(annotations[INJECTED]));
    if (annotations[ORIGINAL_PRESTOP] !== undefined) replaced = JSON.parse(String(annotations[ORIGINAL_PRESTOP]));
  } catch {
    return fail();
  }
  const ok =
    isTree(record) &&
    typeof record.app === 'string' &&
    Array.isArray(record.sidecar) &&
    ['initContainers', 'containers'].includes(record.sidecar[0]) &&
    typeof record.sidecar[1] === 'string' &&
    Array.isArray(record.added) &&
    (record.was === undefined || isTree(record.was)) &&
    isTree(replaced) &&
    (record.port === undefined || (Array.isArray(record.port) && record.port.length === 2 && record.port.every((p) => typeof p === 'string'))) &&
    (record.pullSecrets === undefined || (Array.isArray(record.pullSecrets) && record.pullSecrets.every((p) => typeof p === 'string'))) &&
    (record.volumes === undefined || (Array.isArray(record.volumes) && record.volumes.every((p) => typeof p === 'string')));
  if (!ok) fail();
  return { record, replaced };
}

/** Deletes `object[key]` when inject added it, or puts back null, once it is empty again. */
function restoreEmpty(object: ValueTree, key: string, recordKey: string, record: InjectRecord): void {
  const value = object[key];
  const empty = Array.isArray(value) ? value.length === 0 : isTree(value) && Object.keys(value).length === 0;
  if (!empty) return;
  if (record.added.includes(recordKey)) delete object[key];
  else if (record.was !== undefined && recordKey in record.was) object[key] = record.was[recordKey];
}

export type UninjectOutcome = { readonly restored: true } | { readonly leftAlone: string | undefined };

export function uninjectPod(target: PodTarget, containerName = 'drain-proxy'): UninjectOutcome {
  const { holder } = target;
  const spec = holder.spec as ValueTree;
  const annotations = annotationsOf(holder);
  if (annotations[INJECTED] === undefined) {
    const hasSidecar = [...containersOf(spec, 'containers'), ...containersOf(spec, 'initContainers')].some((c) => c.name === containerName);
    return { leftAlone: hasSidecar ? `has a ${containerName} container that inject did not add (no ${INJECTED} annotation): left as it is` : undefined };
  }
  const { record, replaced } = readRecord(annotations);
  const [list, sidecarName] = record.sidecar;
  const sidecars = Array.isArray(spec[list]) ? (spec[list] as unknown[]) : [];
  const at = sidecars.findIndex((c) => isTree(c) && c.name === sidecarName);
  if (at < 0) throw new ManifestError(`the ${sidecarName} container inject added is not in ${list} any more: restore the manifest from its source`);
  sidecars.splice(at, 1);
  restoreEmpty(spec, 'initContainers', 'initContainers', record);

  const containers = containersOf(spec, 'containers');
  const app = containers.find((c) => c.name === record.app);
  if (app === undefined) throw new ManifestError(`the app container ${record.app} is not in the pod any more: restore the manifest from its source`);
  if (record.port !== undefined) {
    const [originalName, newName] = record.port;
    const port = portsOf(app).find((p) => p.name === newName);
    if (port === undefined) throw new ManifestError(`the app container ${record.app} has no port named ${newName} any more: restore the manifest from its source`);
    port.name = originalName;
    renameReferences(app, newName, originalName);
  }
  for (const container of containers) {
    const name = nameOf(container);
    if (!isTree(container.lifecycle)) continue;
    if (record.added.includes(`preStop/${name}`)) delete container.lifecycle.preStop;
    else if (name in replaced) container.lifecycle.preStop = replaced[name];
    restoreEmpty(container, 'lifecycle', `lifecycle/${name}`, record);
  }
  if (record.added.includes('terminationGracePeriodSeconds')) delete spec.terminationGracePeriodSeconds;
  else if (record.was !== undefined && 'terminationGracePeriodSeconds' in record.was) spec.terminationGracePeriodSeconds = record.was.terminationGracePeriodSeconds;
  if (record.pullSecrets !== undefined) {
    const list = Array.isArray(spec.imagePullSecrets) ? (spec.imagePullSecrets as unknown[]) : [];
    for (const name of record.pullSecrets) {
      const at = list.findLastIndex((entry) => isTree(entry) && entry.name === name);
      if (at >= 0) list.splice(at, 1);
    }
    restoreEmpty(spec, 'imagePullSecrets', 'imagePullSecrets', record);
  }
  if (record.volumes !== undefined) {
    const list = Array.isArray(spec.volumes) ? (spec.volumes as unknown[]) : [];
    for (const name of record.volumes) {
      const at = list.findLastIndex((entry) => isTree(entry) && entry.name === name);
      if (at >= 0) list.splice(at, 1);
    }
    restoreEmpty(spec, 'volumes', 'volumes', record);
  }
  for (const key of [MODE, MODE_REASON, DEFAULT_CONTAINER]) if (record.added.includes(key)) delete annotations[key];
  delete annotations[INJECTED];
  delete annotations[ORIGINAL_PRESTOP];
  const metadata = holder.metadata as ValueTree;
  restoreEmpty(metadata, 'annotations', 'annotations', record);
  restoreEmpty(holder, 'metadata', 'metadata', record);
  return { restored: true };
}
