/**
 * The chart and inject are one design: the same values give the same pod.
 * `web-wired` (wired with the library chart) is rendered with values V under
 * real Helm; `web` (no drain-proxy) is rendered and passed through inject
 * with the same V; the Deployments' pods must be equal: sidecar, env, probes,
 * hooks, ports, grace period, pull secrets, annotations (inject's own records
 * aside), and the Services too. Native and classic, default and non-default
 * values (registries, pull secrets, OpenShift's securityContext included), and
 * the front door's (the PROXY protocol, more HTTP ports).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { stringify } from 'yaml';
import type { ValueTree } from '../../src/inject/chart-values.ts';
import { chartCopy, installs, template, work } from './helm-fixtures.ts';
import { injected, named, objectsOf } from './support.ts';

const wiredChart = chartCopy('web-wired');
const plainChart = chartCopy('web');

const CUSTOM: ValueTree = {
  global: { imageRegistry: 'mirror.example.com/', imagePullSecrets: ['mirror-pull'], compatibility: { openshift: { adaptSecurityContext: 'force' } } },
  image: { registry: 'registry.example.com', repository: 'platform/drain-proxy', digest: `sha256:${'ab'.repeat(32)}`, pullSecrets: [{ name: 'platform-pull' }, 'mirror-pull'] },
  listen: { port: 8100 },
  admin: { port: 9100, portName: 'drain-mgmt' },
  drain: { delaySeconds: 7, timeoutSeconds: 40, token: 's3cret', idleClose: '0' },
  terminationGracePeriodSeconds: 60,
  terminationMessagePolicy: 'File',
  monitoring: { finalScrapeWait: '12s' },
  websocket: { closeCode: 1001, closeSpread: '10s' }, // the older name of drain.closeSpread: both must honour it
  tcp: { ports: [{ port: 6380, upstreamPort: 6379, name: 'redis' }] },
  http: { forwardedHeaders: false, maxConnections: 2000 },
  log: { level: 'debug', access: true },
  extraEnv: [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=200' }],
  resources: { requests: { cpu: '100m', memory: '96Mi' }, limits: { memory: '192Mi' } },
  probes: { readiness: { periodSeconds: 3, timeoutSeconds: 1, failureThreshold: 3, successThreshold: 1 } },
};

/** The same, with the close spread under its current name. */
const CUSTOM_CURRENT_NAMES: ValueTree = { ...CUSTOM, drain: { ...(CUSTOM.drain as ValueTree), closeSpread: '10s' }, websocket: { closeCode: 1001 } };

/**
 * The front door: the PROXY protocol and one more HTTP port. (A TLS Secret adds a pod volume, which web-wired, a
 * chart with volumes of its own wired through drain-proxy.pod.spec, refuses by design; test/charts and test/inject
 * cover TLS each on its own.)
 */
const FRONT_DOOR: ValueTree = {
  listen: { proxyProtocol: true },
  http: { ports: [{ port: 8081, upstreamPort: 9081, name: 'internal' }] },
};

const CASES: [string, ValueTree, string][] = [
  ['defaults, Kubernetes 1.35 (native)', {}, '1.35.0'],
  ['defaults, Kubernetes 1.28 (classic)', {}, '1.28.0'],
  ['non-default values, native', CUSTOM, '1.33.0'],
  ['non-default values, classic', CUSTOM_CURRENT_NAMES, '1.27.0'],
  ['front door (PROXY protocol, HTTP_PORTS), native', FRONT_DOOR, '1.33.0'],
  ['front door (PROXY protocol, HTTP_PORTS), classic', FRONT_DOOR, '1.27.0'],
];

/** The pod template with containers in name order and inject's own records left out. */
function comparable(workload: any): any {
  const template = structuredClone(workload.spec.template);
  const byName = (a: any, b: any): number => String(a.name).localeCompare(String(b.name));
  template.spec.containers.sort(byName);
  template.spec.initContainers?.sort(byName);
  const annotations = template.metadata.annotations ?? {};
  for (const key of Object.keys(annotations)) if (key.startsWith('drain-proxy.io/')) delete annotations[key];
  // Both say what chose the mode, each in its own words (Helm's reported version, or --kube-version).
  assert.match(annotations['drain-proxy/mode-reason'] ?? '', /^(auto: |(drainProxy\.)?mode is )/);
  delete annotations['drain-proxy/mode-reason'];
  if (Object.keys(annotations).length === 0) delete template.metadata.annotations;
  return template;
}

for (const install of installs) {
  describe(`the chart and inject render the same pod, under Helm ${install.version}`, () => {
    CASES.forEach(([what, values, kube], i) => {
      test(what, () => {
        const wiredValues = path.join(work, `wired-${install.major}-${i}.yaml`);
        const { global, ...drainProxy } = values;
        writeFileSync(wiredValues, stringify({ global, drainProxy: { ...drainProxy, upstream: { port: 8080, health: '/ready' } } }));
        const byChart = objectsOf(template(install, ['shop', wiredChart, '--kube-version', kube, '-f', wiredValues]));
        const byInject = objectsOf(injected(template(install, ['shop', plainChart, '--kube-version', kube]), { layers: [structuredClone(values)], kubeVersion: kube }));

        const chartPod = comparable(named(byChart, 'Deployment', 'shop-web'));
        const injectPod = comparable(named(byInject, 'Deployment', 'shop-web'));
        const sidecar = (pod: any): any => [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((c: any) => c.name === 'drain-proxy');
        assert.deepEqual(sidecar(injectPod), sidecar(chartPod), 'the drain-proxy container: image, ports, env, probes, hooks, resources, security context');
        if (values === FRONT_DOOR) {
          const env = Object.fromEntries(sidecar(chartPod).env.map((e: any) => [e.name, e.value]));
          assert.deepEqual([env.HTTP_PORTS, env.PROXY_PROTOCOL], ['8081:9081', 'on'], 'the front door values reach the sidecar');
        }
        const app = (pod: any): any => pod.spec.containers.find((c: any) => c.name === 'web');
        assert.deepEqual(app(injectPod).lifecycle, app(chartPod).lifecycle, "the app's preStop");
        assert.deepEqual(app(injectPod).ports, app(chartPod).ports, "the app's port, renamed as the chart's author names it");
        assert.equal(injectPod.spec.terminationGracePeriodSeconds, chartPod.spec.terminationGracePeriodSeconds, 'the grace period');
        assert.deepEqual(injectPod, chartPod, 'the whole pod template');
        assert.deepEqual(named(byInject, 'Service', 'shop-web'), named(byChart, 'Service', 'shop-web'), 'the Service');
      });
    });
  });
}
