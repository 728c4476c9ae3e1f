/**
 * Every object the example chart renders, with its defaults, each ci/*.yaml
 * and an old cluster (classic mode), validated against the Kubernetes API
 * schemas (kubernetes-models) and the Prometheus Operator CRD schemas
 * (@kubernetes-models/prometheus-operator): types, required fields and enums
 * by their validators, unknown fields by a walk along their type declarations.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { type ChartHelm, eachHelm, exampleChart, type K8sObject, OPERATOR_API } from './helm.ts';
import { validateAll } from './kube-models.ts';

const ciDir = path.join(exampleChart, 'ci');
const renderings: [string, (helm: ChartHelm) => K8sObject[]][] = [
  ['default values', (helm) => helm.render()],
  ['Kubernetes 1.28 (classic mode)', (helm) => helm.render({ kubeVersion: '1.28.0' })],
  ...readdirSync(ciDir).filter((f) => f.endsWith('.yaml')).sort().map((f): [string, (helm: ChartHelm) => K8sObject[]] => [`ci/${f}`, (helm) => helm.render({ values: [path.join(ciDir, f)], apiVersions: OPERATOR_API })]),
  ['every optional object and a TCP port', (helm) => helm.render({ set: [
    'drainProxy.monitoring.podMonitor.enabled=true', 'drainProxy.monitoring.prometheusRule.enabled=true', 'drainProxy.monitoring.dashboard.enabled=true',
    'drainProxy.autoscaling.enabled=true', 'drainProxy.podDisruptionBudget.enabled=true', 'drainProxy.drain.token=abc',
    'drainProxy.tcp.ports[0].port=6379', 'drainProxy.tcp.ports[0].upstreamPort=16379',
  ], apiVersions: OPERATOR_API })],
  ['TLS, the PROXY protocol and an HTTP port, classic mode', (helm) => helm.render({ kubeVersion: '1.28.0', set: [
    'drainProxy.tls.secretName=web-tls', 'drainProxy.listen.proxyProtocol=true', 'drainProxy.http.ports[0].port=8443', 'drainProxy.http.ports[0].upstreamPort=8080',
  ] })],
];

eachHelm((helm) => {
  describe('rendered objects validate against the Kubernetes API and Prometheus Operator schemas', () => {
    const seen = new Set<string>();
    for (const [name, make] of renderings) {
      test(name, async () => {
        for (const kind of await validateAll(make(helm))) seen.add(kind);
      });
    }

    test('the validators are strict enough to catch a broken object', async () => {
      const [deployment] = helm.render().filter((o) => o.kind === 'Deployment');
      const broken = structuredClone(deployment);
      broken.spec.template.spec.initContainers[1].lifecycle = { preStop: { httpGet: { path: '/drain?wait=1' } } };
      await assert.rejects(validateAll([broken]), /port/);
      const badPort = structuredClone(deployment);
      badPort.spec.template.spec.containers[0].ports[0].containerPort = '8080';
      await assert.rejects(validateAll([badPort]), /containerPort must be integer/);
      const typo = structuredClone(deployment);
      typo.spec.template.spec.initContainers[1].restartPolcy = 'Always';
      typo.spec.template.spec.containers[0].lifecycle.preStop.httpGet.timeoutSeconds = 5;
      await assert.rejects(validateAll([typo]), (err: Error) => {
        assert.match(err.message, /initContainers\[1\]\.restartPolcy/);
        assert.match(err.message, /preStop\.httpGet\.timeoutSeconds/);
        return true;
      });
      const [podMonitor] = helm.render({ set: ['drainProxy.monitoring.podMonitor.enabled=true'], apiVersions: OPERATOR_API }).filter((o) => o.kind === 'PodMonitor');
      podMonitor.spec.podMetricsEndpoints[0].scrapeInterval = '5s';
      await assert.rejects(validateAll([podMonitor]), /podMetricsEndpoints\[0\]\.scrapeInterval/);
    });

    test('every kind the charts render was validated', () => {
      for (const kind of ['Deployment', 'Service', 'ConfigMap', 'PodMonitor', 'ServiceMonitor', 'PrometheusRule', 'HorizontalPodAutoscaler', 'PodDisruptionBudget']) {
        assert.ok(seen.has(kind), `${kind} validated`);
      }
    });
  });
});
