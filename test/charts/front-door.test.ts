/**
 * The public front door's values: http.ports (HTTP_PORTS), listen.proxyProtocol
 * (PROXY_PROTOCOL) and tls (a Secret volume mounted whole, TLS_CERT_FILE and
 * TLS_KEY_FILE): env, container and Service ports, volume and mount, probes
 * left on the cleartext admin port, and the refusals with their messages.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { eachHelm, only, type K8sObject } from './helm.ts';
import { validateAll } from './kube-models.ts';
import { checkWiring, wiring } from './pod.ts';

const HTTP_PORT = ['drainProxy.http.ports[0].port=8443', 'drainProxy.http.ports[0].upstreamPort=9443'];
const TLS = ['drainProxy.tls.secretName=web-tls'];

function tlsVolume(pod: any): any {
  return (pod.volumes ?? []).find((v: any) => v.name === 'drain-proxy-tls');
}

eachHelm((helm) => {
  describe('front door: more HTTP ports, the PROXY protocol, TLS', () => {
    test('by default: no HTTP_PORTS, no TLS variables, no volume, PROXY_PROTOCOL off', () => {
      const w = wiring(helm.render());
      assert.equal(w.env.get('HTTP_PORTS'), undefined);
      assert.equal(w.env.get('TLS_CERT_FILE'), undefined);
      assert.equal(w.env.get('TLS_KEY_FILE'), undefined);
      assert.equal(w.env.get('PROXY_PROTOCOL'), 'off');
      assert.equal(w.proxy.volumeMounts, undefined);
      assert.equal(tlsVolume(w.pod), undefined);
    });

    test('http.ports: env, container ports and Service ports, named http-<port> or as given', async () => {
      const objects = helm.render({ set: [...HTTP_PORT, 'drainProxy.http.ports[1].port=8081', 'drainProxy.http.ports[1].upstreamPort=9081', 'drainProxy.http.ports[1].name=internal'] });
      const w = checkWiring(objects);
      assert.equal(w.env.get('HTTP_PORTS'), '8443:9443,8081:9081');
      assert.deepEqual(w.proxy.ports.map((p: any) => [p.name, p.containerPort]), [['http', 8000], ['drain-admin', 9901], ['http-8443', 8443], ['internal', 8081]]);
      assert.deepEqual(only(objects, 'Service').spec.ports.map((p: any) => [p.name, p.port, p.targetPort]), [['http', 80, 'http'], ['http-8443', 8443, 'http-8443'], ['internal', 8081, 'internal']]);
      await validateAll(objects);
    });

    test('listen.proxyProtocol: PROXY_PROTOCOL on; probes and hooks stay on the admin port', () => {
      const w = checkWiring(helm.render({ set: ['drainProxy.listen.proxyProtocol=true'] }));
      assert.equal(w.env.get('PROXY_PROTOCOL'), 'on');
    });

    for (const kube of ['1.32.0', '1.28.0']) {
      test(`tls.secretName (Kubernetes ${kube}): the Secret mounted whole and read-only, the variables point into it, probes stay cleartext`, async () => {
        const objects = helm.render({ set: [...TLS, ...HTTP_PORT], kubeVersion: kube });
        const w = checkWiring(objects);
        assert.equal(w.native, kube === '1.32.0');
        assert.equal(w.env.get('TLS_CERT_FILE'), '/etc/drain-proxy/tls/tls.crt');
        assert.equal(w.env.get('TLS_KEY_FILE'), '/etc/drain-proxy/tls/tls.key');
        assert.deepEqual(w.proxy.volumeMounts, [{ name: 'drain-proxy-tls', mountPath: '/etc/drain-proxy/tls', readOnly: true }], 'a directory mount: no subPath, which would never see the Secret change');
        assert.deepEqual(tlsVolume(w.pod), { name: 'drain-proxy-tls', secret: { secretName: 'web-tls' } });
        for (const app of w.apps) assert.ok(!(app.volumeMounts ?? []).some((m: any) => m.name === 'drain-proxy-tls'), `${app.name} does not see the key`);
        for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
          assert.deepEqual({ port: w.proxy[kind].httpGet.port, scheme: w.proxy[kind].httpGet.scheme }, { port: 9901, scheme: 'HTTP' }, `${kind} on the cleartext admin port`);
        }
        await validateAll(objects);
      });
    }

    test('tls.certKey and tls.keyKey name other keys of the Secret', () => {
      const w = wiring(helm.render({ set: TLS, setString: ['drainProxy.tls.certKey=fullchain.pem', 'drainProxy.tls.keyKey=privkey.pem'] }));
      assert.equal(w.env.get('TLS_CERT_FILE'), '/etc/drain-proxy/tls/fullchain.pem');
      assert.equal(w.env.get('TLS_KEY_FILE'), '/etc/drain-proxy/tls/privkey.pem');
    });

    test('drain-proxy.pod.spec renders the volume for a pod with none of its own', async () => {
      for (const kube of ['1.31.0', '1.28.0']) {
        const objects: K8sObject[] = helm.render({ chart: helm.ownChart, set: TLS, kubeVersion: kube });
        const w = checkWiring(objects);
        assert.deepEqual(w.pod.volumes, [{ name: 'drain-proxy-tls', secret: { secretName: 'web-tls' } }]);
        await validateAll(objects);
      }
    });

    test('a pod with volumes of its own beside drain-proxy.pod.spec is refused, saying what to include', () => {
      assert.match(helm.renderFailure({ chart: helm.workloadsChart, set: [...TLS, 'podSpec.volumes[0].name=data', 'podSpec.volumes[0].emptyDir.medium=Memory'] }),
        /the pod spec sets volumes itself and drain-proxy\.pod\.spec renders it too, so one of them would be lost: keep yours and include drain-proxy\.pod\.volumes inside it/);
      helm.render({ chart: helm.workloadsChart, set: ['podSpec.volumes[0].name=data', 'podSpec.volumes[0].emptyDir.medium=Memory'] }); // no TLS: nothing of drain-proxy's
    });

    test('a pod that includes the separate templates but not drain-proxy.pod.volumes is refused', () => {
      assert.match(helm.renderFailure({ chart: helm.workloadsChart, set: [...TLS, 'layout=separate'] }),
        /tls\.secretName is set, and the pod spec lacks the volume the proxy mounts it from \(drain-proxy-tls\): include drain-proxy\.pod\.volumes inside its volumes/);
    });

    const refusals: [string, string[], RegExp][] = [
      ['an HTTP port on the listen port', ['drainProxy.http.ports[0].port=8000', 'drainProxy.http.ports[0].upstreamPort=9000'], /drain-proxy: http\.ports: port 8000 is already taken by listen\.port \(the proxy binds each port once\): give it another number/],
      ['an HTTP port on the admin port', ['drainProxy.http.ports[0].port=9901', 'drainProxy.http.ports[0].upstreamPort=9000'], /http\.ports: port 9901 is already taken by admin\.port/],
      ['an HTTP port twice', [...HTTP_PORT, 'drainProxy.http.ports[1].port=8443', 'drainProxy.http.ports[1].upstreamPort=9444', 'drainProxy.http.ports[1].name=again'], /http\.ports: port 8443 is already taken by http\.ports/],
      ['a TCP port on an HTTP port', [...HTTP_PORT, 'drainProxy.tcp.ports[0].port=8443', 'drainProxy.tcp.ports[0].upstreamPort=6379'], /tcp\.ports: port 8443 is already taken by http\.ports/],
      ['an HTTP port name taken by the admin port', [...HTTP_PORT, 'drainProxy.http.ports[0].name=drain-admin'], /http\.ports: port name drain-admin is used twice \(port names are unique within a pod\)/],
      ['an HTTP and a TCP port of the same name', [...HTTP_PORT, 'drainProxy.http.ports[0].name=extra', 'drainProxy.tcp.ports[0].port=6379', 'drainProxy.tcp.ports[0].upstreamPort=16379', 'drainProxy.tcp.ports[0].name=extra'], /tcp\.ports: port name extra is used twice/],
      ['an HTTP port forwarding to the proxy', ['drainProxy.http.ports[0].port=8443', 'drainProxy.http.ports[0].upstreamPort=9901'], /http\.ports: upstreamPort 9901 is a port of the proxy itself \(admin\.port\): set it to the port your app listens on/],
      ['the upstream on an HTTP port', [...HTTP_PORT, 'drainProxy.upstream.port=8443'], /upstream\.port 8443 is a port of the proxy itself \(http\.ports\)/],
      ['an HTTP port without upstreamPort', ['drainProxy.http.ports[0].port=8443'], /http\.ports|upstreamPort/],
      ['an app port named like an HTTP port', [...HTTP_PORT, 'drainProxy.http.ports[0].name=app'], /container app has a port named app, like the proxy's/],
    ];
    for (const [name, set, message] of refusals) {
      test(`refused: ${name}`, () => {
        assert.match(helm.renderFailure({ set }), message);
      });
    }

    test('schema refusals: a Secret name, a key, proxyProtocol as text', () => {
      const wording = (go: RegExp, js: RegExp): RegExp => (helm.schemaValidator === 'gojsonschema' ? go : js);
      assert.match(helm.renderFailure({ set: ['drainProxy.tls.secretName=Web_TLS'] }), wording(/tls\.secretName: Does not match pattern/, /at '\/tls\/secretName': 'Web_TLS' does not match pattern/));
      assert.match(helm.renderFailure({ set: [...TLS, 'drainProxy.tls.certKey=../x'] }), wording(/tls\.certKey: Does not match pattern/, /at '\/tls\/certKey': '..\/x' does not match pattern/));
      assert.match(helm.renderFailure({ setString: ['drainProxy.listen.proxyProtocol=yes'] }), wording(/listen\.proxyProtocol: Invalid type\. Expected: boolean, given: string/, /at '\/listen\/proxyProtocol': got string, want boolean/));
      assert.match(helm.renderFailure({ set: ['drainProxy.http.ports[0].port=70000', 'drainProxy.http.ports[0].upstreamPort=1'] }), wording(/http\.ports\.0\.port: Must be less than or equal to 65535/, /at '\/http\/ports\/0\/port': maximum: got 70,000, want 65,535/));
    });
  });
});
