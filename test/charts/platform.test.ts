/**
 * The chart as a platform engineer meets it: images and pull secrets by
 * bitnami/common's conventions, kubectl's default container, the mode made
 * visible (pod annotations, NOTES), pod spec keys the pod template sets itself
 * and app ports named like the proxy's refused, the HPA's scale-down period
 * within the API server's limit, monitoring objects only where their CRDs
 * exist, the library's own Kubernetes floor, OpenShift's restricted SCC, and
 * the schema's container fields as strict as the API's.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { eachHelm, find, libraryChart, only, OPERATOR_API, parseObjects, repoRoot, type ChartHelm, type K8sObject } from './helm.ts';
import { apiFields } from './kube-models.ts';
import { checkWiring, wiring } from './pod.ts';

const scratch = mkdtempSync(path.join(tmpdir(), 'drain-proxy-chart-values-'));
function valuesFile(name: string, text: string): string {
  const file = path.join(scratch, name);
  writeFileSync(file, text);
  return file;
}

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const schema = JSON.parse(readFileSync(path.join(libraryChart, 'values.schema.json'), 'utf8'));
const libraryValues = parseYaml(readFileSync(path.join(libraryChart, 'values.yaml'), 'utf8'));

function podTemplate(objects: K8sObject[]): any {
  return only(objects, 'Deployment').spec.template;
}

/** The workloads fixture's pod spec for one workload kind. */
function workloadPod(objects: K8sObject[], kind: string): any {
  const workload = objects.find((o) => o.kind === kind && !o.metadata.name.endsWith('-other'))!;
  return kind === 'CronJob' ? workload.spec.jobTemplate.spec.template.spec : kind === 'Pod' ? workload.spec : workload.spec.template.spec;
}

describe('chart sources agree', () => {
  test("the library's kubeVersion floor in Chart.yaml is the one its templates enforce", () => {
    const chart = parseYaml(readFileSync(path.join(libraryChart, 'Chart.yaml'), 'utf8'));
    const validate = readFileSync(path.join(libraryChart, 'templates/_validate.tpl'), 'utf8');
    assert.equal(chart.kubeVersion, '>=1.23.0-0');
    assert.ok(validate.includes(`semverCompare "${chart.kubeVersion}" $ctx.Capabilities.KubeVersion.Version`), '_validate.tpl checks the same range');
  });

  test('resources and securityContext in the schema have exactly the Kubernetes API fields', () => {
    assert.deepEqual(Object.keys(schema.properties.securityContext.properties).sort(), apiFields('kubernetes-models/v1/SecurityContext').sort());
    assert.deepEqual(Object.keys(schema.properties.resources.properties).sort(), apiFields('kubernetes-models/v1/ResourceRequirements').sort());
    assert.equal(schema.properties.securityContext.additionalProperties, false);
    assert.equal(schema.properties.resources.additionalProperties, false);
  });

  test('the default memory limit is above the measured worst case it names', () => {
    const text = readFileSync(path.join(libraryChart, 'values.yaml'), 'utf8');
    const comment = text.slice(text.indexOf('# -- Sidecar resources.'), text.indexOf('resources:\n'));
    assert.match(comment, /node bench\/idle-memory\.ts/, 'the comment names the command that measured it');
    const figures = [...comment.matchAll(/(\d+) MiB VmRSS/g)].map((m) => Number(m[1]));
    assert.ok(figures.length >= 2, 'HTTP/1.1 and WebSocket figures');
    const limitMiB = Number(/^(\d+)Mi$/.exec(libraryValues.resources.limits.memory)?.[1]);
    for (const figure of figures) assert.ok(figure < limitMiB * 0.9, `${figure} MiB leaves room under the ${limitMiB}Mi limit`);
    assert.equal(libraryValues.http.maxConnections, 10000, 'measured at the default maxConnections');
    const doc = readFileSync(path.join(repoRoot, 'docs/helm.md'), 'utf8');
    for (const figure of figures) assert.match(doc, new RegExp(`\\| ${figure} MiB \\|`), `docs/helm.md's memory table has ${figure} MiB`);
  });
});

eachHelm((helm) => {
  describe('images: bitnami/common conventions', () => {
    test('a tag is a string: an unquoted 1.10 (the number 1.1) is refused', () => {
      const file = valuesFile('tag-number.yaml', 'drainProxy:\n  image:\n    tag: 1.10\n');
      const stderr = helm.renderFailure({ values: [file] });
      assert.match(stderr, helm.schemaValidator === 'gojsonschema' ? /image\.tag: Invalid type\. Expected: string, given: number/ : /at '\/image\/tag': got number, want string/);
    });

    test('a quoted tag renders as written', () => {
      const file = valuesFile('tag-string.yaml', 'drainProxy:\n  image:\n    tag: "1.10"\n');
      assert.equal(wiring(helm.render({ values: [file] })).proxy.image, 'drain-proxy:1.10');
      assert.equal(wiring(helm.render({ setString: ['drainProxy.image.tag=1.10'] })).proxy.image, 'drain-proxy:1.10');
    });

    test('a digest replaces the tag', () => {
      assert.equal(wiring(helm.render({ set: [`drainProxy.image.digest=${DIGEST}`] })).proxy.image, `drain-proxy@${DIGEST}`);
      assert.match(helm.renderFailure({ set: ['drainProxy.image.digest=sha256:abc'] }), /image\/digest|image\.digest/);
    });

    test('global.imageRegistry replaces image.registry, for the proxy and the example app', () => {
      assert.equal(wiring(helm.render({ set: ['drainProxy.image.registry=registry.example.com:5000'] })).proxy.image, 'registry.example.com:5000/drain-proxy:0.1.0');
      const objects = helm.render({ set: ['drainProxy.image.registry=ignored.example.com', 'global.imageRegistry=mirror.example.com/team'] });
      const pod = podTemplate(objects).spec;
      assert.equal(wiring(objects).proxy.image, 'mirror.example.com/team/drain-proxy:0.1.0');
      assert.equal(pod.containers.find((c: any) => c.name === 'app').image, 'mirror.example.com/team/node:24-slim');
      assert.equal(pod.initContainers.find((c: any) => c.name === 'app-setup').image, 'mirror.example.com/team/node:24-slim');
    });

    test('imagePullSecrets: global, the proxy image and the app image, each once; none by default', () => {
      assert.equal(podTemplate(helm.render()).spec.imagePullSecrets, undefined);
      const objects = helm.render({ set: ['global.imagePullSecrets[0]=shared', 'drainProxy.image.pullSecrets[0].name=proxy-pull', 'drainProxy.image.pullSecrets[1]=shared', 'app.image.pullSecrets[0]=app-pull'] });
      assert.deepEqual(podTemplate(objects).spec.imagePullSecrets, [{ name: 'shared' }, { name: 'proxy-pull' }, { name: 'app-pull' }]);
      checkWiring(objects);
    });

    test('drain-proxy.pod.spec renders imagePullSecrets for a pod with none of its own', () => {
      const pod = only(helm.render({ chart: helm.ownChart, set: ['global.imagePullSecrets[0].name=shared'] }), 'Deployment').spec.template.spec;
      assert.deepEqual(pod.imagePullSecrets, [{ name: 'shared' }]);
    });

    test('a pull secret that is no Secret name is refused', () => {
      assert.match(helm.renderFailure({ set: ['app.image.pullSecrets[0]=Not_A_Name'] }), /image pull secret "Not_A_Name" is not a Secret name/);
    });
  });

  describe('kubectl picks the app; the mode is visible', () => {
    test(`Helm ${helm.version} assumes Kubernetes ${helm.defaultKubeVersion} without a cluster`, () => {
      const expected: Record<string, string> = { 'v3.17.2': 'v1.32.0', 'v4.1.4': 'v1.35.0' };
      if (expected[helm.version] !== undefined) assert.equal(helm.defaultKubeVersion, expected[helm.version]);
    });

    for (const [name, options, mode, reason] of [
      ['auto, without --kube-version', {}, 'native', new RegExp(`^auto: Kubernetes ${helm.defaultKubeVersion.replaceAll('.', '\\.')} as Helm reports it is at or after 1\\.29; under helm template that is Helm's own default unless --kube-version is given$`)],
      ['auto on 1.28', { kubeVersion: '1.28.0' }, 'classic', /^auto: Kubernetes v1\.28\.0 as Helm reports it is before 1\.29; under helm template/],
      ['mode classic', { set: ['drainProxy.mode=classic'] }, 'classic', /^drainProxy\.mode is classic$/],
      ['mode native', { set: ['drainProxy.mode=native'], kubeVersion: '1.30.0' }, 'native', /^drainProxy\.mode is native$/],
    ] as const) {
      test(`pod annotations, ${name}: mode ${mode} and why, default container app`, () => {
        const objects = helm.render(options);
        const template = podTemplate(objects);
        const annotations = template.metadata.annotations;
        assert.equal(annotations['drain-proxy/mode'], mode);
        assert.match(annotations['drain-proxy/mode-reason'], reason);
        assert.equal(annotations['kubectl.kubernetes.io/default-container'], 'app');
        assert.equal(wiring(objects).native, mode === 'native');
        if (mode === 'classic') assert.equal(template.spec.containers[0].name, 'drain-proxy', 'the proxy is first in containers: without the annotation kubectl would pick it');
      });
    }

    test('the annotations template needs the app container, and not the proxy', () => {
      const fixture = readFileSync(path.join(helm.ownChart, 'templates/deployment.yaml'), 'utf8');
      const dir = mkdtempSync(path.join(tmpdir(), 'drain-proxy-own-chart-'));
      for (const [name, replacement, message] of [
        ['missing', '"context" $)', /pass the app container's name to drain-proxy\.pod\.annotations/],
        ['proxy', '"context" $ "defaultContainer" "drain-proxy")', /defaultContainer is "drain-proxy", the proxy's own container/],
      ] as const) {
        const chart = path.join(dir, name);
        // A copy of the built fixture whose annotations line passes no (or the wrong) defaultContainer.
        cpSync(helm.ownChart, chart, { recursive: true });
        writeFileSync(path.join(chart, 'templates/deployment.yaml'), fixture.replace('"context" $ "defaultContainer" "app")', replacement));
        assert.match(helm.renderFailure({ chart }), message);
      }
    });

    test('NOTES: where the sidecar went, a loud warning with mode auto, a note for a value under its older name', () => {
      const notes = (objects: K8sObject[]): string => objects.find((o) => o.metadata.name.endsWith('-notes'))!.data!.notes;
      const auto = notes(helm.render({ chart: helm.workloadsChart }));
      assert.match(auto, /^drain-proxy runs as a native sidecar \(an init container with restartPolicy: Always\): auto: Kubernetes /);
      assert.match(auto, /WARNING: drainProxy\.mode is auto\. It chose native from Kubernetes v1\.\d+\.\d+, the version\nHelm reported\. helm install and helm upgrade ask the cluster; helm template/);
      assert.match(auto, /Set\ndrainProxy\.mode to native or classic/);
      const classic = notes(helm.render({ chart: helm.workloadsChart, set: ['drainProxy.mode=classic'] }));
      assert.equal(classic, 'drain-proxy runs as a classic sidecar (a regular container with its own preStop hook): drainProxy.mode is classic.');
      const older = notes(helm.render({ chart: helm.workloadsChart, set: ['drainProxy.mode=classic'], setString: ['drainProxy.websocket.closeSpread=7s'] }));
      assert.match(older, /NOTE: drainProxy\.websocket\.closeSpread is the older name of drainProxy\.drain\.closeSpread\n.*: rename it\.$/);
    });

    if (helm.major === 4) {
      // Helm 3's install --dry-run=client still asks a cluster for its version; Helm 4's renders offline.
      test("the example chart's NOTES.txt carries them (helm install --dry-run=client)", () => {
        const result = helm.run(['install', 'demo', helm.exampleChart, '--dry-run=client', '--namespace', 'shop']);
        assert.equal(result.code, 0, result.stderr);
        const notes = result.stdout.slice(result.stdout.indexOf('NOTES:'));
        assert.match(notes, /Service port 80 \(targetPort http, the proxy's\)/);
        assert.match(notes, /drain-proxy runs as a native sidecar/);
        assert.match(notes, /WARNING: drainProxy\.mode is auto/);
      });
    }
  });

  describe('pod spec keys and port names the pod template has itself', () => {
    const render = (set: string[], kubeVersion?: string): K8sObject[] => helm.render({ chart: helm.workloadsChart, set, kubeVersion });
    const refuse = (set: string[], kubeVersion?: string): string => helm.renderFailure({ chart: helm.workloadsChart, set, kubeVersion });

    for (const kind of ['Deployment', 'CronJob', 'Pod']) {
      test(`${kind}: the keys drain-proxy renders appear once`, () => {
        for (const layout of ['spec', 'separate']) {
          const pod = workloadPod(render([`kind=${kind}`, `layout=${layout}`, 'global.imagePullSecrets[0]=shared']), kind);
          assert.equal(pod.terminationGracePeriodSeconds, 30, `${layout}: the derived grace period`);
          assert.deepEqual(pod.imagePullSecrets, [{ name: 'shared' }]);
          assert.equal(pod.initContainers.filter((c: any) => c.name === 'drain-proxy').length, 1);
        }
      });

      test(`${kind}: a grace period of the pod template's own is refused`, () => {
        assert.match(refuse([`kind=${kind}`, 'podSpec.terminationGracePeriodSeconds=10']),
          /workload\.yaml: the pod spec sets terminationGracePeriodSeconds itself and drain-proxy\.pod\.spec renders it too, so one of them would be lost: remove it and set drainProxy\.terminationGracePeriodSeconds/);
      });
    }

    test('with the separate templates, the message names the one that clashes', () => {
      assert.match(refuse(['layout=separate', 'podSpec.terminationGracePeriodSeconds=10']), /sets terminationGracePeriodSeconds itself and drain-proxy\.pod\.terminationGracePeriodSeconds renders it too/);
      assert.match(refuse(['layout=separate', 'global.imagePullSecrets[0]=shared', 'podSpec.imagePullSecrets[0].name=mine']),
        /sets imagePullSecrets itself and drain-proxy\.pod\.imagePullSecrets renders it too, so one of them would be lost: replace it with drain-proxy\.pod\.imagePullSecrets, passing your images/);
      render(['layout=separate', 'podSpec.imagePullSecrets[0].name=mine'], undefined); // no secrets of drain-proxy's: nothing rendered, nothing lost
    });

    test("initContainers of the pod template's own beside drain-proxy.pod.spec: refused in native mode only", () => {
      assert.match(refuse(['podSpec.initContainers[0].name=migrate', 'podSpec.initContainers[0].image=migrate:1']),
        /sets initContainers itself and drain-proxy\.pod\.spec renders it too.*keep yours and include drain-proxy\.pod\.initContainers inside it/);
      const pod = workloadPod(render(['podSpec.initContainers[0].name=migrate', 'podSpec.initContainers[0].image=migrate:1'], '1.28.0'), 'Deployment');
      assert.deepEqual(pod.initContainers.map((c: any) => c.name), ['migrate'], 'classic: drain-proxy.pod.spec renders no initContainers');
    });

    test('the same key from two drain-proxy templates is refused', () => {
      assert.match(refuse(['layout=both']), /the pod spec gets terminationGracePeriodSeconds from both drain-proxy\.pod\.spec and drain-proxy\.pod\.terminationGracePeriodSeconds: keep one/);
    });

    for (const [name, set] of [
      ['the public port name', ['appPorts[0].name=http']],
      ['the admin port name', ['appPorts[0].name=drain-admin']],
      ['a TCP port name', ['appPorts[0].name=redis', 'drainProxy.tcp.ports[0].port=6379', 'drainProxy.tcp.ports[0].upstreamPort=16379', 'drainProxy.tcp.ports[0].name=redis']],
    ] as const) {
      for (const mode of ['native', 'classic']) {
        test(`an app port with ${name} is refused (${mode})`, () => {
          const port = set[0].split('=')[1];
          assert.match(refuse([...set, `drainProxy.mode=${mode}`]),
            new RegExp(`container app has a port named ${port}, like the proxy's: a Service's targetPort ${port} would reach app, not the proxy \\(named ports resolve in regular containers before native sidecars\\)\\. Rename or remove that port of app`));
        });
      }
    }

    test("the example chart: renaming the proxy's port onto the app's is refused", () => {
      assert.match(helm.renderFailure({ set: ['drainProxy.listen.portName=app'] }), /container app has a port named app, like the proxy's/);
    });

    test('a workload in the same file without drain-proxy is left alone', () => {
      const other = render([]).find((o) => o.metadata.name.endsWith('-other'))!;
      assert.equal(other.spec.template.spec.terminationGracePeriodSeconds, 3);
      assert.equal(other.spec.template.spec.containers[0].ports[0].name, 'http');
    });

    test('the rendered YAML has no key twice (the parser refuses duplicates)', () => {
      assert.throws(() => parseObjects('a: 1\na: 2\n'), /unique/);
      for (const kind of ['Deployment', 'CronJob', 'Pod']) render([`kind=${kind}`, 'layout=separate']);
    });
  });

  describe('HPA scale-down period within the API server limit (1800 s)', () => {
    for (const [timeout, period] of [[25, 30], [1794, 1799], [1795, 1800], [3600, 1800], [86400, 1800]] as const) {
      test(`drain.timeoutSeconds ${timeout} -> periodSeconds ${period}`, () => {
        const hpa = only(helm.render({ set: ['drainProxy.autoscaling.enabled=true', `drainProxy.drain.timeoutSeconds=${timeout}`] }), 'HorizontalPodAutoscaler');
        assert.deepEqual(hpa.spec.behavior.scaleDown.policies, [{ type: 'Pods', value: 1, periodSeconds: period }]);
      });
    }
  });

  describe('monitoring objects only where the Prometheus Operator CRDs are served', () => {
    for (const [kind, value] of [['PodMonitor', 'podMonitor'], ['ServiceMonitor', 'serviceMonitor'], ['PrometheusRule', 'prometheusRule']] as const) {
      test(`${kind}: refused without monitoring.coreos.com/v1, rendered with it or with checkCRDs false`, () => {
        const set = [`drainProxy.monitoring.${value}.enabled=true`];
        assert.match(helm.renderFailure({ set }),
          new RegExp(`monitoring\\.${value}\\.enabled needs the Prometheus Operator's CRDs \\(monitoring\\.coreos\\.com/v1\\), which this cluster does not serve\\..*with helm template, pass --api-versions monitoring\\.coreos\\.com/v1, or set drainProxy\\.monitoring\\.checkCRDs: false`));
        assert.equal(find(helm.render({ set, apiVersions: OPERATOR_API }), kind).length, 1);
        assert.equal(find(helm.render({ set: [...set, 'drainProxy.monitoring.checkCRDs=false'] }), kind).length, 1);
      });
    }

    test('the dashboard (a ConfigMap) needs no CRD', () => {
      const objects = helm.render({ set: ['drainProxy.monitoring.dashboard.enabled=true'] });
      assert.equal(find(objects, 'ConfigMap').filter((c) => c.metadata.labels?.grafana_dashboard === '1').length, 1);
    });
  });

  describe("the library's own Kubernetes floor", () => {
    test('Kubernetes 1.22 is refused, 1.23 renders (classic)', () => {
      assert.match(helm.renderFailure({ kubeVersion: '1.22.17' }), /drain-proxy: needs Kubernetes 1\.23 or later \(its HorizontalPodAutoscaler is autoscaling\/v2, its PodDisruptionBudget policy\/v1\); this cluster is v1\.22\.17/);
      assert.equal(checkWiring(helm.render({ kubeVersion: '1.23.0' })).native, false);
    });
  });

  describe("OpenShift's restricted SCC", () => {
    const sidecarAndApp = (objects: K8sObject[]): any[] => {
      const w = wiring(objects);
      return [w.proxy, ...w.apps];
    };

    test('on a cluster serving security.openshift.io/v1, runAsUser and runAsGroup are left to the SCC', () => {
      for (const container of sidecarAndApp(helm.render({ apiVersions: ['security.openshift.io/v1'] }))) {
        assert.equal(container.securityContext.runAsUser, undefined, container.name);
        assert.equal(container.securityContext.runAsGroup, undefined, container.name);
        assert.equal(container.securityContext.runAsNonRoot, true, `${container.name}: still non-root`);
        assert.equal(container.securityContext.readOnlyRootFilesystem, true);
        assert.deepEqual(container.securityContext.capabilities.drop, ['ALL']);
      }
    });

    test('adaptSecurityContext: force without OpenShift, disabled on it, auto elsewhere keeps the UIDs', () => {
      const force = sidecarAndApp(helm.render({ set: ['global.compatibility.openshift.adaptSecurityContext=force'] }));
      assert.ok(force.every((c) => c.securityContext.runAsUser === undefined));
      const disabled = sidecarAndApp(helm.render({ set: ['global.compatibility.openshift.adaptSecurityContext=disabled'], apiVersions: ['security.openshift.io/v1'] }));
      assert.deepEqual(disabled.map((c) => c.securityContext.runAsUser), [65532, 1000]);
      assert.deepEqual(sidecarAndApp(helm.render()).map((c) => c.securityContext.runAsUser), [65532, 1000]);
      assert.match(helm.renderFailure({ set: ['global.compatibility.openshift.adaptSecurityContext=sometimes'] }), /adaptSecurityContext/);
    });
  });

  describe('schema: container fields as strict as the API', () => {
    const refused = (helm: ChartHelm, set: string[], field: string, gojsonschema: RegExp, jsonschema: RegExp): void => {
      const stderr = helm.renderFailure({ set });
      assert.match(stderr, /values don't meet the specifications of the schema/);
      assert.match(stderr, helm.schemaValidator === 'gojsonschema' ? gojsonschema : jsonschema, `${field}: ${stderr}`);
    };

    for (const probe of ['liveness', 'startup']) {
      test(`${probe} probe: successThreshold other than 1 is refused`, () => {
        refused(helm, [`drainProxy.probes.${probe}.successThreshold=2`], `probes.${probe}.successThreshold`,
          new RegExp(`probes\\.${probe}\\.successThreshold: probes\\.${probe}\\.successThreshold does not match: 1`),
          new RegExp(`at '/probes/${probe}/successThreshold': value must be 1`));
      });
    }

    test('readiness probe: successThreshold 2 is allowed', () => {
      assert.equal(wiring(helm.render({ set: ['drainProxy.probes.readiness.successThreshold=2'] })).proxy.readinessProbe.successThreshold, 2);
    });

    test('an unknown key under resources or securityContext is refused', () => {
      refused(helm, ['drainProxy.resources.limit.memory=1Gi'], 'resources', /resources: Additional property limit is not allowed/, /at '\/resources': additional properties 'limit' not allowed/);
      refused(helm, ['drainProxy.securityContext.runAsUsr=1'], 'securityContext', /securityContext: Additional property runAsUsr is not allowed/, /at '\/securityContext': additional properties 'runAsUsr' not allowed/);
      refused(helm, ['drainProxy.securityContext.capabilities.remove[0]=NET_RAW'], 'capabilities', /securityContext\.capabilities: Additional property remove is not allowed/, /at '\/securityContext\/capabilities': additional properties 'remove' not allowed/);
      refused(helm, ['drainProxy.resources.requests.memory=lots'], 'requests.memory', /resources\.requests\.memory: Does not match pattern/, /at '\/resources\/requests\/memory': 'lots' does not match pattern/);
    });

    test('valid resources and securityContext render as given', () => {
      const w = wiring(helm.render({ set: ['drainProxy.resources.limits.cpu=2', 'drainProxy.resources.requests.memory=100M', 'drainProxy.securityContext.seccompProfile.type=Localhost', 'drainProxy.securityContext.seccompProfile.localhostProfile=drain-proxy.json'] }));
      assert.deepEqual(w.proxy.resources.limits, { cpu: 2, memory: '256Mi' });
      assert.equal(w.proxy.resources.requests.memory, '100M');
      assert.deepEqual(w.proxy.securityContext.seccompProfile, { type: 'Localhost', localhostProfile: 'drain-proxy.json' });
    });
  });
});
