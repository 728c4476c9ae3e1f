/**
 * charts/drain-proxy-example rendered with its defaults and with every
 * ci/*.yaml: the sidecar is wired to the pod's termination sequence, native vs
 * classic follows the cluster version, and optional objects appear only when
 * enabled and point at the right pods and ports.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { eachHelm, exampleChart, find, type K8sObject, only, OPERATOR_API } from './helm.ts';
import { checkWiring, wiring } from './pod.ts';

const ciDir = path.join(exampleChart, 'ci');
const ciFiles = readdirSync(ciDir).filter((f) => f.endsWith('.yaml')).sort();
const ci = (name: string): string => path.join(ciDir, `${name}-values.yaml`);
const OPTIONAL_KINDS = ['PodMonitor', 'ServiceMonitor', 'PrometheusRule', 'HorizontalPodAutoscaler', 'PodDisruptionBudget'];

function podLabels(objects: K8sObject[]): Record<string, string> {
  return only(objects, 'Deployment').spec.template.metadata.labels;
}

function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function dashboards(objects: K8sObject[]): K8sObject[] {
  return find(objects, 'ConfigMap').filter((c) => c.metadata.labels?.grafana_dashboard !== undefined);
}

eachHelm((helm) => {
  describe('example chart: wiring', () => {
    test('ci files cover native, classic, monitoring, HPA, custom ports and the front door (TLS, PROXY protocol, more HTTP ports)', () => {
      for (const name of ['native', 'classic', 'monitoring', 'servicemonitor', 'hpa', 'custom-ports', 'front-door']) {
        assert.ok(ciFiles.includes(`${name}-values.yaml`), `ci/${name}-values.yaml exists`);
      }
    });

    test('default values', () => {
      const objects = helm.render();
      const w = checkWiring(objects);
      assert.equal(w.native, true, 'native sidecar on the default (recent) Kubernetes');
      assert.equal(w.pod.terminationGracePeriodSeconds, 30, 'grace period = DRAIN_TIMEOUT 25 s + 5 s margin');
      assert.equal(w.env.get('UPSTREAM'), `http://127.0.0.1:${w.apps[0].env.find((e: any) => e.name === 'PORT').value}`, 'UPSTREAM is the app port');
      for (const kind of OPTIONAL_KINDS) assert.equal(find(objects, kind).length, 0, `no ${kind} by default`);
      assert.equal(dashboards(objects).length, 0, 'no dashboard by default');
      assert.equal(only(objects, 'Deployment').spec.replicas, 2);
    });

    for (const file of ciFiles) {
      test(`ci/${file}`, () => {
        checkWiring(helm.render({ values: [path.join(ciDir, file)], apiVersions: OPERATOR_API }), path.join(ciDir, file));
      });
    }

    test('custom ports: names and numbers follow the values everywhere', () => {
      const objects = helm.render({ values: [ci('custom-ports')] });
      const w = checkWiring(objects, ci('custom-ports'));
      assert.deepEqual(w.proxy.ports.map((p: any) => [p.name, p.containerPort]), [['web', 9000], ['proxy-admin', 9100]]);
      assert.equal(w.env.get('UPSTREAM'), 'http://127.0.0.1:3000');
      assert.equal(w.env.get('DRAIN_DELAY'), '10s');
      assert.equal(w.env.get('DRAIN_TIMEOUT'), '45s');
      assert.equal(w.pod.terminationGracePeriodSeconds, 60, 'explicit grace period kept');
      assert.equal(w.apps[0].lifecycle.preStop.httpGet.port, 9100);
      assert.deepEqual(w.apps[0].lifecycle.preStop.httpGet.httpHeaders, [{ name: 'X-Drain-Token', value: 's3cret-token' }]);
      assert.equal(w.proxy.env.find((e: any) => e.name === 'NODE_OPTIONS')?.value, '--max-old-space-size=192', 'extraEnv passed through');
      const service = only(objects, 'Service');
      assert.deepEqual(service.spec.ports.map((p: any) => [p.port, p.targetPort]), [[8080, 'web']]);
    });
  });

  describe('example chart: native or classic sidecar follows --kube-version', () => {
    const cases: [string, string | undefined, boolean][] = [
      ['1.27.9', undefined, false],
      ['1.28.0', undefined, false],
      ['v1.28.15', undefined, false],
      ['1.29.0', undefined, true],
      ['1.30.2', undefined, true],
      ['1.33.1', undefined, true],
      ['1.33.1', 'classic', false],
      ['1.29.0', 'native', true],
    ];
    for (const [version, mode, native] of cases) {
      test(`${version}${mode ? ` mode=${mode}` : ' auto'} -> ${native ? 'native' : 'classic'}`, () => {
        const objects = helm.render({ kubeVersion: version, values: mode ? [ci(mode)] : [] });
        const w = checkWiring(objects);
        assert.equal(w.native, native);
        if (native) {
          assert.ok(w.pod.initContainers.some((c: any) => c.name === 'drain-proxy'), 'the sidecar is an init container');
          assert.ok(!w.pod.containers.some((c: any) => c.name === 'drain-proxy'));
        } else {
          assert.ok(!(w.pod.initContainers ?? []).some((c: any) => c.name === 'drain-proxy'), 'not an init container in classic mode');
          assert.equal(w.pod.containers[0].name, 'drain-proxy');
          assert.equal(w.proxy.lifecycle.preStop.httpGet.path, '/drain?wait=1', 'classic proxy drains in its own preStop');
        }
      });
    }

    test('mode native on 1.28 fails and says what to change', () => {
      const err = helm.renderFailure({ kubeVersion: '1.28.0', values: [ci('native')] });
      assert.match(err, /mode native needs Kubernetes 1\.29 or later .* set drainProxy\.mode to classic or auto/);
    });
  });

  describe('example chart: monitoring and scaling objects only when enabled', () => {
    test('PodMonitor, PrometheusRule and dashboard', () => {
      const objects = helm.render({ values: [ci('monitoring')], apiVersions: OPERATOR_API });
      const w = wiring(objects);
      const pm = only(objects, 'PodMonitor');
      assert.equal(find(objects, 'ServiceMonitor').length, 0);
      assert.equal(pm.metadata.labels!.release, 'kube-prometheus-stack', 'monitoring.labels for the release selector');
      assert.ok(selects(pm.spec.selector.matchLabels, podLabels(objects)), 'PodMonitor selects the pods');
      const endpoint = pm.spec.podMetricsEndpoints[0];
      assert.equal(endpoint.path, '/metrics');
      assert.equal(endpoint.interval, '10s');
      assert.equal(w.proxy.ports.find((p: any) => p.name === endpoint.port)?.containerPort, w.adminPort, 'scrapes the admin port');

      // The final scrape: the PodMonitor's 10 s interval + 2 s, and room for it in the grace period.
      assert.equal(w.env.get('FINAL_SCRAPE_WAIT'), '12s');
      assert.equal(w.pod.terminationGracePeriodSeconds, 25 + 5 + 12);
      assert.equal(w.proxy.terminationMessagePolicy, 'FallbackToLogsOnError');

      const rule = only(objects, 'PrometheusRule');
      assert.equal(rule.metadata.labels!.release, 'kube-prometheus-stack');
      const alerts = rule.spec.groups.flatMap((g: any) => g.rules);
      assert.deepEqual(alerts.map((r: any) => r.alert), [
        'DrainProxyDrainDeadlineCut', 'DrainProxySlowDrain', 'DrainProxyRestarted', 'DrainProxyNotReady', 'DrainProxyReadinessFlapping',
        'DrainProxyDrainDenied', 'DrainProxyWebSocketCloseTimeouts', 'DrainProxyConnectionsRefused', 'DrainProxyRequestsRejected',
        'DrainProxyLimitsEnforced', 'DrainProxyMemoryPressure',
      ]);
      const expr = (name: string): string => alerts.find((r: any) => r.alert === name).expr;
      assert.match(expr('DrainProxyDrainDeadlineCut'), /max_over_time\(drain_proxy_connections_closed_total\{reason="drain_deadline", namespace="shop", pod=~"demo-drain-proxy-example-\.\*"\}\[15m\]\)/);
      assert.match(expr('DrainProxySlowDrain'), /drain_proxy_drain_duration_seconds\{namespace="shop", [^}]*\}\[15m\]\)\) > 20\)/, '80% of the 25 s deadline');
      assert.match(expr('DrainProxyDrainDenied'), /increase\(drain_proxy_drain_denied_total\{namespace="shop", /);
      assert.match(expr('DrainProxyNotReady'), /drain_proxy_ready\{namespace="shop", [^}]*\}\) == 0/);
      assert.equal(alerts.find((r: any) => r.alert === 'DrainProxyNotReady').for, '5m');
      for (const a of alerts) {
        assert.equal(a.labels.severity, 'critical');
        assert.match(a.expr, /namespace="shop", pod=~"demo-drain-proxy-example-\.\*"/, `${a.alert} is scoped to the workload`);
      }

      const [dashboard] = dashboards(objects);
      assert.ok(dashboard, 'dashboard ConfigMap');
      assert.equal(dashboard.metadata.labels!.grafana_dashboard, '1', 'labelled for the Grafana sidecar');
      assert.equal(dashboard.metadata.annotations!.grafana_folder, 'drain-proxy');
      const json = JSON.parse(Object.values(dashboard.data!)[0]);
      const exprs: string[] = json.panels.flatMap((p: any) => p.targets.map((t: any) => t.expr));
      for (const metric of ['drain_proxy_connections_active', 'drain_proxy_requests_in_flight', 'drain_proxy_drain_phase', 'drain_proxy_drain_duration_seconds', 'drain_proxy_connections_closed_total', 'drain_proxy_drains_total', 'drain_proxy_connections_refused_total', 'drain_proxy_rejected_requests_total']) {
        assert.ok(exprs.some((e) => e.includes(metric)), `dashboard shows ${metric}`);
      }
      assert.ok(json.panels.some((p: any) => p.targets.some((t: any) => t.legendFormat === '{{protocol}}')), 'legends by protocol survive templating');
      assert.equal(new Set(json.panels.map((p: any) => p.id)).size, json.panels.length, 'panel ids unique');
    });

    test('ServiceMonitor: the Service exposes the admin port it scrapes', () => {
      const objects = helm.render({ values: [ci('servicemonitor')], apiVersions: OPERATOR_API });
      const w = wiring(objects);
      const sm = only(objects, 'ServiceMonitor');
      assert.equal(find(objects, 'PodMonitor').length, 0);
      const service = only(objects, 'Service');
      assert.ok(selects(sm.spec.selector.matchLabels, service.metadata.labels!), 'ServiceMonitor selects the Service');
      const sp = service.spec.ports.find((p: any) => p.name === sm.spec.endpoints[0].port);
      assert.ok(sp, 'the scraped port is a Service port');
      assert.equal(sp.port, w.adminPort);
      assert.equal(w.proxy.ports.find((p: any) => p.name === sp.targetPort)?.containerPort, w.adminPort);
      assert.equal(sm.spec.endpoints[0].path, '/metrics');
      // On Endpoints a terminating pod is no longer scraped: no final scrape to wait for.
      assert.equal(sm.spec.serviceDiscoveryRole, undefined);
      assert.equal(w.env.get('FINAL_SCRAPE_WAIT'), 'off');
      assert.equal(w.pod.terminationGracePeriodSeconds, 30);
    });

    test('ServiceMonitor on EndpointSlices: the terminating pod is scraped, so the final scrape is waited for', () => {
      const objects = helm.render({ values: [ci('servicemonitor')], set: ['drainProxy.monitoring.serviceMonitor.serviceDiscoveryRole=EndpointSlice', 'drainProxy.monitoring.serviceMonitor.interval=30s'], apiVersions: OPERATOR_API });
      const w = wiring(objects);
      assert.equal(only(objects, 'ServiceMonitor').spec.serviceDiscoveryRole, 'EndpointSlice');
      assert.equal(w.env.get('FINAL_SCRAPE_WAIT'), '32s');
      assert.equal(w.pod.terminationGracePeriodSeconds, 25 + 5 + 32);
      const explicit = wiring(helm.render({ values: [ci('servicemonitor')], set: ['drainProxy.monitoring.serviceMonitor.serviceDiscoveryRole=EndpointSlice'], setString: ['drainProxy.monitoring.finalScrapeWait=2500ms'], apiVersions: OPERATOR_API }));
      assert.equal(explicit.env.get('FINAL_SCRAPE_WAIT'), '2500ms', 'an explicit wait wins');
      assert.equal(explicit.pod.terminationGracePeriodSeconds, 25 + 5 + 3, 'rounded up to whole seconds');
    });

    test('HPA on connections per pod, and a PodDisruptionBudget', () => {
      const objects = helm.render({ values: [ci('hpa')] });
      const deployment = only(objects, 'Deployment');
      const hpa = only(objects, 'HorizontalPodAutoscaler');
      assert.equal(deployment.spec.replicas, undefined, 'replicas left to the HPA');
      assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
      assert.equal(hpa.spec.minReplicas, 3);
      assert.equal(hpa.spec.maxReplicas, 20);
      assert.deepEqual(hpa.spec.metrics, [{ type: 'Pods', pods: { metric: { name: 'drain_proxy_connections_active' }, target: { type: 'AverageValue', averageValue: '200' } } }]);
      assert.ok(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds > 0);
      const pdb = only(objects, 'PodDisruptionBudget');
      assert.equal(pdb.spec.minAvailable, 2);
      assert.equal(pdb.spec.maxUnavailable, undefined);
      assert.ok(selects(pdb.spec.selector.matchLabels, podLabels(objects)), 'PDB selects the pods');
    });
  });
});
