/**
 * inject with the front door's values, as the chart renders them: http.ports
 * (HTTP_PORTS and container ports), listen.proxyProtocol, tls.secretName (the
 * Secret's volume added to the pod, mounted whole and read-only into the
 * proxy, taken out again by uninject), and the chart's port checks.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkValues, mergeValues, valuesLayer } from '../../src/inject/values.ts';
import { ManifestError } from '../../src/inject/errors.ts';
import { checkRoundTrip, checkWired, fixture, inject, injected, named, objectsOf, podSpecOf } from './support.ts';

const FRONT_DOOR = { listen: { proxyProtocol: true }, tls: { secretName: 'web-tls' }, http: { ports: [{ port: 8443, upstreamPort: 9443 }] } };

test('http.ports, listen.proxyProtocol and tls.secretName wire the pod as the chart does, and uninject takes them out', async () => {
  const source = fixture('nginx-deployment.yaml');
  const output = injected(source, { layers: [structuredClone(FRONT_DOOR)] });
  const deployment = named(objectsOf(output), 'Deployment', 'shop-nginx');
  const w = checkWired(deployment, [[named(objectsOf(output), 'Service', 'shop-nginx'), ['http']]]);
  assert.equal(w.env.get('PROXY_PROTOCOL'), 'on');
  assert.equal(w.env.get('HTTP_PORTS'), '8443:9443');
  assert.equal(w.env.get('TLS_CERT_FILE'), '/etc/drain-proxy/tls/tls.crt');
  assert.equal(w.env.get('TLS_KEY_FILE'), '/etc/drain-proxy/tls/tls.key');
  assert.deepEqual(w.proxy.ports.map((p: any) => [p.name, p.containerPort]), [['http', 8000], ['drain-admin', 9901], ['http-8443', 8443]]);
  assert.deepEqual(w.proxy.volumeMounts, [{ name: 'drain-proxy-tls', mountPath: '/etc/drain-proxy/tls', readOnly: true }]);
  assert.deepEqual(podSpecOf(deployment).volumes.at(-1), { name: 'drain-proxy-tls', secret: { secretName: 'web-tls' } });
  assert.equal(w.proxy.readinessProbe.httpGet.port, 9901, 'probes on the cleartext admin port');
  await checkRoundTrip(source, output, { layers: [structuredClone(FRONT_DOOR)] });
});

test('a pod with a volume named like the TLS volume is refused', () => {
  const source = fixture('nginx-deployment.yaml').replace(/- name: (\S+)\n(\s+)configMap:/, '- name: drain-proxy-tls\n$2configMap:');
  assert.ok(source.includes('drain-proxy-tls'), 'the fixture has a configMap volume to rename');
  const result = inject(source, { layers: [{ tls: { secretName: 'web-tls' } }] });
  assert.match(result.errors.join('\n'), /the pod has a volume named drain-proxy-tls, the name of drain-proxy's TLS volume: rename it/);
});

test("the chart's port checks, with its words", () => {
  const refused = (layer: object, expected: RegExp): void => {
    assert.throws(() => checkValues(mergeValues([valuesLayer(layer, 'test')]), [1, 35]), (err: Error) => err instanceof ManifestError && expected.test(err.message));
  };
  refused({ http: { ports: [{ port: 9901, upstreamPort: 9000 }] } }, /^http\.ports: port 9901 is already taken by admin\.port \(the proxy binds each port once\)/);
  refused({ http: { ports: [{ port: 8443, upstreamPort: 9443 }] }, tcp: { ports: [{ port: 8443, upstreamPort: 6379 }] } }, /^tcp\.ports: port 8443 is already taken by http\.ports/);
  refused({ http: { ports: [{ port: 8443, upstreamPort: 9443, name: 'drain-admin' }] } }, /^http\.ports: port name drain-admin is used twice/);
  refused({ http: { ports: [{ port: 8443, upstreamPort: 8000 }] } }, /^http\.ports: upstreamPort 8000 is a port of the proxy itself \(listen\.port\)/);
  refused({ tls: { secretName: 'Web_TLS' } }, /^tls\.secretName "Web_TLS" is not a Secret name/);
  refused({ tls: { secretName: 'web-tls', certKey: '../x' } }, /^tls\.certKey "\.\.\/x" is not a key of a Secret/);
  refused({ listen: { proxyProtocol: 'yes' } }, /^listen\.proxyProtocol must be true or false/);
});
