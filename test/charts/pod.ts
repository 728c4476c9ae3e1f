/**
 * Reads the drain-proxy wiring out of a rendered example chart, and the
 * checks every rendering must pass (shared by the chart test files).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { loadConfig, schema } from '../../src/config/index.ts';
import { type K8sObject, only } from './objects.ts';

export const SIDECAR = 'drain-proxy';
export const schemaEnvNames: ReadonlySet<string> = new Set(Object.values(schema).map((v) => v.env));
export const schemaByEnv = new Map(Object.values(schema).map((v) => [v.env, v] as const));

export interface Wiring {
  pod: any;
  proxy: any;
  native: boolean;
  apps: any[];
  env: Map<string, string>;
  listenPort: number;
  adminPort: number;
}

export function wiring(objects: K8sObject[]): Wiring {
  return podWiring(only(objects, 'Deployment').spec.template.spec);
}

/** The wiring of one pod spec (a Deployment's template, or any pod drain-proxy inject wired). */
export function podWiring(pod: any): Wiring {
  const inInit = (pod.initContainers ?? []).filter((c: any) => c.name === SIDECAR);
  const inMain = (pod.containers ?? []).filter((c: any) => c.name === SIDECAR);
  assert.equal(inInit.length + inMain.length, 1, 'exactly one drain-proxy container in the pod');
  const proxy = inInit[0] ?? inMain[0];
  const env = new Map<string, string>();
  for (const item of proxy.env ?? []) {
    assert.ok(!env.has(item.name), `env ${item.name} set twice`);
    if (item.value !== undefined) env.set(item.name, item.value);
  }
  return {
    pod,
    proxy,
    native: inInit.length === 1,
    apps: pod.containers.filter((c: any) => c.name !== SIDECAR),
    env,
    listenPort: Number(env.get('LISTEN_PORT') ?? schema.listenPort.default),
    adminPort: Number(env.get('ADMIN_PORT') ?? schema.adminPort.default),
  };
}

/** extraEnv names given in a values file (they are the user's, not the contract's). */
export function extraEnvNames(valuesFile: string | undefined): Set<string> {
  if (valuesFile === undefined) return new Set();
  const values = parseYaml(readFileSync(valuesFile, 'utf8')) ?? {};
  return new Set(((values.drainProxy ?? {}).extraEnv ?? []).map((e: { name: string }) => e.name));
}

/**
 * The checks every rendering of the example chart must pass: the sidecar's
 * env is the proxy's configuration contract and the proxy would start with it,
 * probes and hooks hit the admin port, the Service reaches the proxy, the
 * grace period covers the drain, the container is locked down.
 */
export function checkWiring(objects: K8sObject[], valuesFile?: string): Wiring {
  const w = wiring(objects);
  checkPodWiring(w, [only(objects, 'Service')], extraEnvNames(valuesFile));
  return w;
}

/**
 * The checks of checkWiring on one pod and the Services in front of it (each
 * must reach the proxy; the first one's first port must reach LISTEN_PORT).
 */
export function checkPodWiring(w: Wiring, services: readonly K8sObject[], extra: ReadonlySet<string> = new Set()): void {

  // env: contract variables only (besides HOST_IP and extraEnv), each valid for the proxy.
  for (const item of w.proxy.env) {
    if (item.name === 'HOST_IP') {
      assert.deepEqual(item.valueFrom, { fieldRef: { fieldPath: 'status.hostIP' } }, 'HOST_IP from the downward API');
      continue;
    }
    if (item.name === 'MEMORY_LIMIT' && item.valueFrom !== undefined) {
      assert.deepEqual(item.valueFrom, { resourceFieldRef: { containerName: w.proxy.name, resource: 'limits.memory' } }, 'MEMORY_LIMIT from the container\'s own limits.memory');
      continue;
    }
    if (extra.has(item.name)) continue;
    assert.ok(schemaEnvNames.has(item.name), `${item.name} is not a variable of src/config/schema.ts`);
    assert.equal(typeof item.value, 'string', `${item.name} has a literal string value`);
    assert.doesNotThrow(() => schemaByEnv.get(item.name)!.parse(item.value), `${item.name}=${item.value} parses`);
  }
  const config = loadConfig({ ...Object.fromEntries(w.env), HOST_IP: '10.1.2.3' });
  assert.equal(w.env.has('LISTEN_PORT') && w.env.has('ADMIN_PORT') && w.env.has('UPSTREAM'), true, 'ports and upstream set explicitly');
  assert.equal(w.env.has('DRAIN_DELAY') && w.env.has('DRAIN_TIMEOUT'), true, 'drain timings set explicitly');

  // Ports: named container ports carry the configured numbers; names unique in the pod.
  const ports = [...(w.pod.initContainers ?? []), ...w.pod.containers].flatMap((c: any) => (c.ports ?? []).map((p: any) => ({ ...p, container: c.name })));
  const names = ports.filter((p) => p.name !== undefined).map((p) => p.name);
  assert.equal(new Set(names).size, names.length, `port names unique in the pod: ${names.join(', ')}`);
  const proxyPorts = new Map<number, string>(w.proxy.ports.map((p: any) => [p.containerPort, p.name]));
  assert.ok(proxyPorts.has(config.listenPort), 'the listen port is a container port of the proxy');
  assert.ok(proxyPorts.has(config.adminPort), 'the admin port is a container port of the proxy');

  // Probes: httpGet on the admin port number; startup on /livez so a native sidecar lets the app start.
  const probe = (kind: string, path: string): void => {
    const p = w.proxy[kind];
    assert.ok(p?.httpGet, `${kind} is httpGet (the image has no shell)`);
    assert.equal(p.httpGet.path, path, `${kind} path`);
    assert.equal(p.httpGet.port, config.adminPort, `${kind} on the admin port number`);
    assert.equal(p.exec, undefined);
  };
  probe('readinessProbe', '/readyz');
  probe('livenessProbe', '/livez');
  probe('startupProbe', '/livez');

  // preStop: GET /drain?wait=1 on the admin port NUMBER, on every app container (and the classic proxy).
  const hooked = w.native ? w.apps : [...w.apps, w.proxy];
  assert.ok(w.apps.length >= 1, 'an app container');
  for (const c of hooked) {
    const get = c.lifecycle?.preStop?.httpGet;
    assert.ok(get, `${c.name} has a preStop httpGet`);
    assert.equal(get.path, '/drain?wait=1', `${c.name} preStop path`);
    assert.equal(typeof get.port, 'number', `${c.name} preStop port is a number (names resolve only among the hooked container's ports)`);
    assert.equal(get.port, config.adminPort, `${c.name} preStop on the admin port`);
    const token = (get.httpHeaders ?? []).find((h: any) => h.name === 'X-Drain-Token')?.value;
    assert.equal(token, config.drainToken === '' ? undefined : config.drainToken, `${c.name} preStop carries the drain token when set`);
  }
  if (w.native) {
    assert.equal(w.proxy.restartPolicy, 'Always', 'native sidecar: restartPolicy Always');
    assert.equal(w.proxy.lifecycle, undefined, 'native sidecar: no preStop of its own (SIGTERM comes after the app exits)');
  } else {
    assert.equal(w.proxy.restartPolicy, undefined, 'classic container: no restartPolicy');
  }

  // Services: every port resolves to a port of the proxy; the first public one to LISTEN_PORT.
  const resolve = (target: string | number): { container: string; containerPort: number } | undefined =>
    typeof target === 'number' ? ports.find((p) => p.containerPort === target) : ports.find((p) => p.name === target);
  for (const service of services) {
    for (const sp of service.spec.ports) {
      const target = resolve(sp.targetPort ?? sp.port);
      assert.ok(target, `Service ${service.metadata.name} port ${sp.name} targetPort ${sp.targetPort} resolves to a container port`);
      assert.equal(target.container, SIDECAR, `Service ${service.metadata.name} port ${sp.name} targets the proxy, not the app`);
    }
  }
  if (services.length > 0) {
    assert.equal(resolve(services[0].spec.ports[0].targetPort ?? services[0].spec.ports[0].port)!.containerPort, config.listenPort, 'the public Service port reaches LISTEN_PORT');
  }

  // Grace period: one deadline. DRAIN_TIMEOUT counts from the drain's start and includes DRAIN_DELAY.
  const grace = w.pod.terminationGracePeriodSeconds;
  assert.equal(typeof grace, 'number', 'terminationGracePeriodSeconds set');
  assert.ok(config.drainDelay < config.drainTimeout, 'DRAIN_DELAY < DRAIN_TIMEOUT');
  assert.ok(grace * 1000 > config.drainTimeout, `grace period ${grace}s exceeds DRAIN_TIMEOUT ${config.drainTimeout}ms`);

  // Locked down: non-root, read-only, no capabilities, seccomp.
  const sc = w.proxy.securityContext;
  assert.equal(sc.runAsNonRoot, true);
  assert.equal(sc.readOnlyRootFilesystem, true);
  assert.equal(sc.allowPrivilegeEscalation, false);
  assert.deepEqual(sc.capabilities.drop, ['ALL']);
  assert.equal(sc.seccompProfile.type, 'RuntimeDefault');
  assert.ok(w.proxy.resources?.requests, 'resources requested');
}
