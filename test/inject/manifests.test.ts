/**
 * inject and uninject on manifests shaped like well-known public charts'
 * output (bitnami nginx, an Elasticsearch StatefulSet, fluent-bit's
 * DaemonSet, an app with an exporter, `kubectl get -o yaml`): each wired as
 * the chart wires a pod, valid against the Kubernetes API, idempotent,
 * reversed exactly by uninject; and the cases inject must refuse.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ORIGINAL_PRESTOP, ORIGINAL_TARGET_PORTS } from '../../src/inject/annotations.ts';
import { checkRoundTrip, checkWired, envOf, fixture, inject, injected, named, objectsOf, podMetadataOf, podSpecOf } from './support.ts';

describe('a Deployment with a named http port and probes on it (bitnami nginx)', () => {
  const source = fixture('nginx-deployment.yaml');
  const output = injected(source);
  const objects = objectsOf(output);
  const deployment = named(objects, 'Deployment', 'shop-nginx');

  test('is wired: native sidecar, preStop, probes, grace period; the Service by name reaches the proxy unchanged', () => {
    const service = named(objects, 'Service', 'shop-nginx');
    const w = checkWired(deployment, [[service, ['http']]]);
    assert.equal(w.native, true, 'native sidecar at the default Kubernetes version');
    assert.equal(w.env.get('UPSTREAM'), 'http://127.0.0.1:8080', 'UPSTREAM is the app port');
    assert.equal(w.env.get('UPSTREAM_HEALTH'), '/', "UPSTREAM_HEALTH is the app's readiness httpGet path");
    assert.equal(w.pod.terminationGracePeriodSeconds, 30);
    assert.deepEqual(service, named(objectsOf(source), 'Service', 'shop-nginx'), 'the Service targets the name http, now the proxy\'s: untouched');
  });

  test('the app port is renamed and every probe naming it follows', () => {
    const app = podSpecOf(deployment).containers[0];
    assert.deepEqual(app.ports, [{ name: 'app-http', containerPort: 8080 }]);
    assert.equal(app.livenessProbe.tcpSocket.port, 'app-http');
    assert.equal(app.readinessProbe.httpGet.port, 'app-http');
    const proxy = podSpecOf(deployment).initContainers[0];
    assert.deepEqual(proxy.ports.map((p: any) => p.name), ['http', 'drain-admin'], 'the proxy took the name http');
  });

  test('documents it does not change are written byte for byte (comments, quoting), and it round-trips', async () => {
    for (const marker of ['# Source: nginx/templates/server-block-configmap.yaml', '  enabled: "on"\n  mode: "0644"\n', '# Shaped like `helm template`']) {
      assert.ok(output.includes(marker), `kept: ${marker}`);
    }
    assert.ok(output.includes('# Source: nginx/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment'), 'a rewritten document keeps its separator and # Source: line');
    assert.equal(podSpecOf(deployment).volumes[1].configMap.defaultMode, 0o644, 'defaultMode 0644 is octal, as Kubernetes reads it');
    await checkRoundTrip(source, output);
  });

  test('before Kubernetes 1.29: a classic container with its own preStop, and kubectl picks the app by default', async () => {
    const classic = injected(source, { kubeVersion: '1.28' });
    const workload = named(objectsOf(classic), 'Deployment', 'shop-nginx');
    const w = checkWired(workload, [[named(objectsOf(classic), 'Service', 'shop-nginx'), ['http']]]);
    assert.equal(w.native, false);
    assert.equal(podSpecOf(workload).initContainers, undefined, 'no initContainers key added');
    assert.deepEqual(podSpecOf(workload).containers.map((c: any) => c.name), ['nginx', 'drain-proxy'], 'the app stays first');
    assert.equal(podMetadataOf(workload).annotations['kubectl.kubernetes.io/default-container'], 'nginx');
    await checkRoundTrip(source, classic, { kubeVersion: '1.28' });
  });
});

describe('a StatefulSet with an init container, an exec preStop and two ports (Elasticsearch)', () => {
  const source = fixture('elasticsearch-statefulset.yaml');
  const result = inject(source);
  const output = result.output!;
  const objects = objectsOf(output);
  const statefulSet = named(objects, 'StatefulSet', 'search-master');

  test('is wired on the port its annotation names; the client Service targeting 9200 by number is retargeted', () => {
    const client = named(objects, 'Service', 'search-master');
    const w = checkWired(statefulSet, [[client, ['http']]]);
    assert.equal(w.env.get('UPSTREAM'), 'http://127.0.0.1:9200');
    assert.equal(w.env.get('UPSTREAM_HEALTH'), 'tcp', 'an exec readiness probe cannot be followed: TCP connect');
    assert.deepEqual(client.spec.ports.map((p: any) => p.targetPort), ['http', undefined], 'http retargeted to the proxy port; transport untouched');
    assert.deepEqual(JSON.parse(client.metadata.annotations![ORIGINAL_TARGET_PORTS]).targetPorts, [[0]], 'it had no targetPort');
  });

  test('the init container stays first, the exec preStop is kept in an annotation, the longer grace period stays', () => {
    const spec = podSpecOf(statefulSet);
    assert.deepEqual(spec.initContainers.map((c: any) => c.name), ['configure-sysctl', 'drain-proxy']);
    assert.equal(spec.terminationGracePeriodSeconds, 120, 'kept: already above the drain');
    const original = JSON.parse(podMetadataOf(statefulSet).annotations[ORIGINAL_PRESTOP]);
    assert.deepEqual(original.elasticsearch.exec.command[0], 'bash');
    assert.equal(spec.containers[0].lifecycle.postStart.httpGet.port, 'app-http', 'postStart named the app port: renamed with it');
  });

  test('the headless Service cannot be retargeted: a warning names it and the workload', () => {
    assert.equal(result.warnings.length, 1, result.warnings.join('\n'));
    assert.match(result.warnings[0], /^Service search-master-headless: headless \(clusterIP: None\).*StatefulSet search-master.*bypass drain-proxy/);
    assert.deepEqual(named(objects, 'Service', 'search-master-headless'), named(objectsOf(source), 'Service', 'search-master-headless'));
  });

  test('round-trips', async () => {
    await checkRoundTrip(source, output);
  });
});

describe('a DaemonSet (fluent-bit)', () => {
  const source = fixture('fluent-bit-daemonset.yaml');
  const output = injected(source);

  test('is wired, its readiness path is the upstream health check, and it round-trips', async () => {
    const objects = objectsOf(output);
    const w = checkWired(named(objects, 'DaemonSet', 'logs-fluent-bit'), [[named(objects, 'Service', 'logs-fluent-bit'), ['http']]]);
    assert.equal(w.env.get('UPSTREAM'), 'http://127.0.0.1:2020');
    assert.equal(w.env.get('UPSTREAM_HEALTH'), '/api/v1/health');
    await checkRoundTrip(source, output);
  });
});

describe('a pod with an app and an exporter', () => {
  const source = fixture('multi-container.yaml');

  test('two candidate ports and no annotation: one line naming the workload, both ports and the annotation to set; nothing written', () => {
    const result = inject(source);
    assert.equal(result.output, undefined);
    assert.deepEqual(result.errors, [
      "Deployment api: several container ports could be the app's (api: web 3000, exporter: metrics 9187): annotate the pod template with drain-proxy.io/app-port set to the one drain-proxy goes in front of",
    ]);
  });

  const annotated = source.replace('      labels: {app: api}\n    spec:', '      labels: {app: api}\n      annotations: {drain-proxy.io/app-port: web}\n    spec:');
  const output = injected(annotated);

  test('with drain-proxy.io/app-port: every container waits for the drain; the port-number Service target moves to the proxy', () => {
    const objects = objectsOf(output);
    const deployment = named(objects, 'Deployment', 'api');
    const service = named(objects, 'Service', 'api');
    const w = checkWired(deployment, [[service, ['web']]]);
    assert.equal(w.env.get('UPSTREAM'), 'http://127.0.0.1:3000');
    assert.equal(w.env.get('UPSTREAM_HEALTH'), '/healthz', 'readiness on the port number counts too');
    assert.deepEqual(service.spec.ports.map((p: any) => p.targetPort), ['web', 'metrics'], 'the app target retargeted (to the name the proxy took), the exporter\'s left');
    const original = JSON.parse(podMetadataOf(deployment).annotations[ORIGINAL_PRESTOP]);
    assert.deepEqual(original, { exporter: { exec: { command: ['sleep', '5'] } } });
  });

  test('round-trips', async () => {
    await checkRoundTrip(annotated, output);
  });
});

describe('kind: List from kubectl get -o yaml', () => {
  const source = fixture('kubectl-list.yaml');
  const output = injected(source);

  test('the Deployment inside is wired; its Service targeting 8080 is retargeted; an unnamed app port gives the proxy listen.portName', async () => {
    const objects = objectsOf(output);
    const deployment = named(objects, 'Deployment', 'billing');
    const service = named(objects, 'Service', 'billing');
    const w = checkWired(deployment, [[{ ...service, spec: { ...service.spec, ports: service.spec.ports.map((p: any) => ({ name: 'web', ...p })) } }, ['web']]]);
    assert.equal(w.proxy.ports[0].name, 'http');
    assert.equal(service.spec.ports[0].targetPort, 'http');
    assert.equal(podSpecOf(deployment).containers[0].ports[0].name, undefined, 'the app port keeps having no name');
    assert.equal(podSpecOf(deployment).terminationGracePeriodSeconds, 30);
    assert.ok(!JSON.parse(podMetadataOf(deployment).annotations['drain-proxy.io/injected']).added.includes('terminationGracePeriodSeconds'), '30 already covers the drain');
    await checkRoundTrip(source, output);
  });
});

test('Jobs, CronJobs, Helm hook pods and workloads annotated drain-proxy.io/inject: "false" are left exactly as they are', () => {
  const source = fixture('run-to-completion.yaml');
  const result = inject(source);
  assert.deepEqual(result.errors, []);
  assert.deepEqual(result.warnings, []);
  assert.equal(result.output, source);
});

describe('refusals: one line naming the workload and what to change', () => {
  const deployment = (podSpec: string, annotations = '{}'): string => `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: ${annotations}
    spec:
${podSpec}`;
  const onPort = (port: number): string => `      containers: [{name: web, image: "web:1", ports: [{name: http, containerPort: ${port}}]}]`;

  const cases: [string, string, string, RegExp][] = [
    ['an app port that is the proxy\'s listen port', onPort(8000), '{}', /^Deployment shop\/web: container web declares port 8000, drain-proxy's listen port \(annotate drain-proxy\.io\/listen-port with a free port\)$/],
    ['an app-port annotation naming no port', onPort(8080), '{drain-proxy.io/app-port: web}', /^Deployment shop\/web: drain-proxy\.io\/app-port "web": no TCP container port has that name \(web: http 8080\)$/],
    ['hostNetwork', `      hostNetwork: true\n${onPort(8080)}`, '{}', /^Deployment shop\/web: hostNetwork: .*annotate it drain-proxy\.io\/inject: "false"$/],
    ['an annotation that is not a duration', onPort(8080), '{drain-proxy.io/drain-timeout: soon}', /^Deployment shop\/web: annotation drain-proxy\.io\/drain-timeout: "soon": expected whole seconds, such as 25 or 25s$/],
    ['a delay not below the deadline, as the chart words it', onPort(8080), '{drain-proxy.io/drain-delay: "30"}', /^Deployment shop\/web: drain\.delaySeconds \(30\) must be less than drain\.timeoutSeconds \(25\)/],
    ['an inject annotation that is neither true nor false', onPort(8080), '{drain-proxy.io/inject: "no"}', /^Deployment shop\/web: annotation drain-proxy\.io\/inject is "no"/],
    ['a port name the admin port needs', `      containers: [{name: web, image: "web:1", ports: [{name: http, containerPort: 8080}, {name: drain-admin, containerPort: 7000}]}]`, '{drain-proxy.io/app-port: http}', /^Deployment shop\/web: container web has a port named drain-admin, which drain-proxy's admin port needs \(port names are unique within a pod\): rename that port, or set admin\.portName$/],
  ];
  for (const [what, podSpec, annotations, expected] of cases) {
    test(what, () => {
      const result = inject(deployment(podSpec, annotations));
      assert.equal(result.output, undefined, 'nothing written');
      assert.equal(result.errors.length, 1, result.errors.join('\n'));
      assert.match(result.errors[0], expected);
      assert.doesNotMatch(result.errors[0], /\n/);
    });
  }

  test('the fix each message names works: drain-proxy.io/listen-port moves the proxy off the app port', () => {
    const output = injected(deployment(onPort(8000), '{drain-proxy.io/listen-port: "8001"}'));
    const w = checkWired(objectsOf(output)[0]);
    assert.equal(w.env.get('LISTEN_PORT'), '8001');
    assert.equal(w.env.get('UPSTREAM'), 'http://127.0.0.1:8000');
  });

  test('annotations set the drain per workload, and the grace period follows', () => {
    const output = injected(deployment(onPort(8080), '{drain-proxy.io/drain-timeout: 40s, drain-proxy.io/drain-delay: "8", drain-proxy.io/upstream-health: /livez}'));
    const w = checkWired(objectsOf(output)[0]);
    assert.equal(w.env.get('DRAIN_TIMEOUT'), '40s');
    assert.equal(w.env.get('DRAIN_DELAY'), '8s');
    assert.equal(w.env.get('UPSTREAM_HEALTH'), '/livez');
    assert.equal(w.pod.terminationGracePeriodSeconds, 45);
  });

  test('several broken workloads: one line each', () => {
    const two = `${deployment(onPort(8000))}\n---\n${deployment(onPort(9901)).replace('name: web, namespace', 'name: api, namespace')}`;
    const result = inject(two);
    assert.deepEqual(result.errors.map((line) => line.split(':')[0]), ['Deployment shop/web', 'Deployment shop/api']);
  });
});

test('a pod the chart (or a hand) already wired is left as it is', () => {
  const source = `apiVersion: v1
kind: Pod
metadata: {name: wired}
spec:
  containers: [{name: app, image: "app:1", ports: [{name: app-http, containerPort: 8080}]}]
  initContainers: [{name: drain-proxy, image: "drain-proxy:0.1.0", restartPolicy: Always, ports: [{name: http, containerPort: 8000}]}]
`;
  assert.equal(injected(source), source);
  const result = inject(source);
  assert.deepEqual(result.warnings, []);
});

test('a workload with no container port is left alone, with a warning saying how to choose one', () => {
  const source = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: worker}\nspec:\n  selector: {matchLabels: {app: w}}\n  template:\n    metadata: {labels: {app: w}}\n    spec:\n      containers: [{name: worker, image: "w:1"}]\n';
  const result = inject(source);
  assert.equal(result.output, source);
  assert.deepEqual(result.warnings, ['Deployment worker: no TCP container port to put drain-proxy in front of: left as it is (annotate drain-proxy.io/app-port to choose one)']);
});

test('uninject restores exactly keys that were null or empty before (annotations: null, lifecycle: {}, initContainers: [])', async () => {
  const source = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations:
    spec:
      terminationGracePeriodSeconds: 10
      initContainers: []
      containers:
        - name: web
          image: "web:1"
          lifecycle: {}
          ports: [{name: http, containerPort: 8080}]
`;
  const output = injected(source);
  const spec = podSpecOf(objectsOf(output)[0]);
  assert.equal(spec.terminationGracePeriodSeconds, 30, 'raised to cover the drain');
  await checkRoundTrip(source, output);
});

describe("the chart's image, pull secret and OpenShift conventions", () => {
  const source = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      imagePullSecrets: [{name: app-pull}, {name: shared-pull}]
      containers: [{name: web, image: "web:1", ports: [{name: http, containerPort: 8080}]}]
`;
  const layers = [{ global: { imageRegistry: 'mirror.example.com', imagePullSecrets: ['shared-pull'] }, image: { registry: 'ignored.example.com', pullSecrets: [{ name: 'drain-pull' }] } }];

  test('global.imageRegistry wins; pull secrets are added once each after the pod\'s own; uninject takes only those out', async () => {
    const output = injected(source, { layers });
    const spec = podSpecOf(objectsOf(output)[0]);
    assert.equal(spec.initContainers[0].image, 'mirror.example.com/drain-proxy:0.1.0');
    assert.deepEqual(spec.imagePullSecrets, [{ name: 'app-pull' }, { name: 'shared-pull' }, { name: 'drain-pull' }]);
    await checkRoundTrip(source, output, { layers });
  });

  test('OpenShift: forced, or auto with --api-versions security.openshift.io/v1, drops runAsUser and runAsGroup', () => {
    const securityContext = (output: string): any => podSpecOf(objectsOf(output)[0]).initContainers[0].securityContext;
    assert.equal(securityContext(injected(source)).runAsUser, 65532, 'auto without the API: as is');
    const forced = securityContext(injected(source, { layers: [{ global: { compatibility: { openshift: { adaptSecurityContext: 'force' } } } }] }));
    assert.equal(forced.runAsUser, undefined);
    assert.equal(forced.runAsGroup, undefined);
    assert.equal(forced.runAsNonRoot, true);
    const detected = inject(source, { apiVersions: ['security.openshift.io/v1'] });
    assert.equal(securityContext(detected.output!).runAsUser, undefined);
  });

  test('the pod annotations say the mode and why', () => {
    const annotations = podMetadataOf(objectsOf(injected(source, { kubeVersion: '1.28' }))[0]).annotations;
    assert.equal(annotations['drain-proxy/mode'], 'classic');
    assert.match(annotations['drain-proxy/mode-reason'], /^auto: Kubernetes 1\.28 \(drain-proxy inject --kube-version, 1\.35 when not given\) is before 1\.29$/);
    assert.equal(annotations['kubectl.kubernetes.io/default-container'], 'web');
  });

  test('refused as the chart refuses: a numeric tag, a cluster before 1.23', () => {
    assert.match(inject(source, { layers: [{ image: { tag: 1.1 } }] }).errors[0], /^Deployment web: the tag of image drain-proxy must be a string \(YAML reads an unquoted 1\.10 as the number 1\.1\)/);
    assert.match(inject(source, { kubeVersion: '1.22' }).errors[0], /^Deployment web: needs Kubernetes 1\.23 or later/);
  });
});
