/**
 * The snippets in docs/helm.md hold what the chart renders: the templates it
 * names exist, the third-party values and the plain manifest carry the
 * contract's variables only, probes, hooks, security context and resources
 * as the chart renders them, and validate against the Kubernetes schemas.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/index.ts';
import { type ChartHelm, eachHelm, type K8sObject, libraryChart, only, OPERATOR_API, ownChart, repoRoot } from './helm.ts';
import { validateAll } from './kube-models.ts';
import { checkWiring, schemaByEnv, wiring } from './pod.ts';

const doc = readFileSync(path.join(repoRoot, 'docs/helm.md'), 'utf8');

/** The fenced block that follows `<!-- test: NAME -->`. */
function block(name: string): string {
  const match = new RegExp(`<!-- test: ${name} -->\\n\`\`\`yaml\\n([\\s\\S]*?)\\n\`\`\``).exec(doc);
  assert.ok(match, `docs/helm.md has a yaml block marked <!-- test: ${name} -->`);
  return match[1];
}

/** The container as the chart renders it with the library's defaults (native mode). */
function renderedSidecar(helm: ChartHelm): any {
  return wiring(helm.render({ set: ['drainProxy.upstream.health=tcp'] })).proxy;
}

function checkContainerEnv(container: any): Record<string, string> {
  const env: Record<string, string> = {};
  for (const item of container.env) {
    if (item.name === 'HOST_IP') {
      assert.deepEqual(item.valueFrom, { fieldRef: { fieldPath: 'status.hostIP' } });
      continue;
    }
    assert.ok(schemaByEnv.has(item.name), `${item.name} is a variable of src/config/schema.ts`);
    assert.equal(typeof item.value, 'string', `${item.name} is quoted`);
    env[item.name] = item.value;
  }
  loadConfig({ ...env, HOST_IP: '10.1.2.3' });
  return env;
}

describe('docs/helm.md', () => {
  test('every drain-proxy template it names exists in the library chart', () => {
    const defined = new Set<string>();
    const templates = path.join(libraryChart, 'templates');
    for (const file of readdirSync(templates)) {
      for (const m of readFileSync(path.join(templates, file), 'utf8').matchAll(/define "(drain-proxy\.[a-zA-Z.]+)"/g)) defined.add(m[1]);
    }
    const named = new Set([...doc.matchAll(/"(drain-proxy\.[a-zA-Z.]+)"/g)].map((m) => m[1]));
    for (const m of doc.matchAll(/`(drain-proxy\.[a-zA-Z.]+)`/g)) named.add(m[1]);
    assert.ok(named.size >= 6);
    for (const name of named) assert.ok(defined.has(name), `${name} is defined in charts/drain-proxy/templates`);
    assert.match(block('own-chart'), /drain-proxy\.pod\.annotations[\s\S]*drain-proxy\.pod\.spec[\s\S]*drain-proxy\.pod\.containers[\s\S]*drain-proxy\.app\.lifecycle/);
  });

  test('third-party values, classic sidecar: contract variables and the preStop', () => {
    const [container] = parseYaml(block('third-party-classic')).sidecars;
    assert.equal(container.restartPolicy, undefined);
    checkContainerEnv(container);
    assert.deepEqual(container.lifecycle.preStop, { httpGet: { path: '/drain?wait=1', port: 9901, scheme: 'HTTP' } });
  });

  test('plain manifest: the same wiring, valid Kubernetes objects', async () => {
    const objects = parseAllDocuments(block('plain-manifest')).map((d) => d.toJS() as K8sObject);
    assert.deepEqual(objects.map((o) => o.kind), ['Deployment', 'Service']);
    const w = checkWiring(objects);
    assert.equal(w.native, true);
    assert.equal(w.pod.terminationGracePeriodSeconds, 30);
    await validateAll(objects);
  });

  test('the fixture chart holds the four lines as the page shows them', () => {
    const template = readFileSync(path.join(ownChart, 'templates/deployment.yaml'), 'utf8');
    const lines = block('own-chart').split('\n').filter((line) => line.includes('include "drain-proxy.'));
    assert.equal(lines.length, 4);
    for (const line of lines) assert.ok(template.includes(line), `fixture template has: ${line.trim()}`);
  });
});

eachHelm((helm) => {
  describe('docs/helm.md', () => {
    test('third-party values, native sidecar: as the chart renders it', () => {
      const values = parseYaml(block('third-party-native'));
      const [container] = values.initContainers;
      const rendered = renderedSidecar(helm);
      assert.equal(container.restartPolicy, 'Always');
      for (const key of ['startupProbe', 'readinessProbe', 'livenessProbe', 'securityContext', 'resources']) {
        assert.deepEqual(container[key], rendered[key], `${key} as rendered by the chart`);
      }
      assert.deepEqual(container.ports.map((p: any) => p.containerPort), rendered.ports.map((p: any) => p.containerPort));
      const env = checkContainerEnv(container);
      for (const [name, value] of Object.entries(env)) {
        assert.equal(value, rendered.env.find((e: any) => e.name === name)?.value, `${name} as rendered by the chart`);
      }
      const config = loadConfig(env);
      assert.deepEqual(values.lifecycleHooks.preStop, { httpGet: { path: '/drain?wait=1', port: config.adminPort, scheme: 'HTTP' } });
      assert.ok(values.terminationGracePeriodSeconds * 1000 > config.drainTimeout);
    });

    test('prometheus-adapter rule serves the metric the HPA asks for', () => {
      const rule = parseYaml(block('prometheus-adapter')).rules.custom[0];
      const hpa = only(helm.render({ set: ['drainProxy.autoscaling.enabled=true'] }), 'HorizontalPodAutoscaler');
      const metric = hpa.spec.metrics[0].pods.metric.name;
      assert.equal(rule.name.as, metric);
      assert.match(rule.seriesQuery, new RegExp(`^'?${metric}\\{`));
      assert.deepEqual(rule.resources.overrides, { namespace: { resource: 'namespace' }, pod: { resource: 'pod' } });
    });
  });

  describe('docs/helm.md: your own chart in four lines', () => {
    for (const [version, native] of [['1.28.0', false], ['1.31.0', true]] as const) {
      test(`renders the whole wiring on Kubernetes ${version}`, async () => {
        const objects = helm.render({ chart: helm.ownChart, kubeVersion: version });
        const w = checkWiring(objects);
        assert.equal(w.native, native);
        assert.equal(w.pod.terminationGracePeriodSeconds, 30);
        await validateAll(objects);
      });
    }

    test('the optional objects from one line, for the pods of the release', async () => {
      const objects = helm.render({ chart: helm.ownChart, set: ['drainProxy.monitoring.podMonitor.enabled=true', 'drainProxy.podDisruptionBudget.enabled=true'], apiVersions: OPERATOR_API });
      const labels = only(objects, 'Deployment').spec.template.metadata.labels;
      assert.deepEqual(only(objects, 'PodMonitor').spec.selector.matchLabels, labels);
      assert.deepEqual(only(objects, 'PodDisruptionBudget').spec.selector.matchLabels, labels);
      await validateAll(objects);
    });
  });
});
