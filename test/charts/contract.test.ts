/**
 * The chart and the proxy cannot drift: every variable of the proxy's
 * configuration contract (src/config/schema.ts) is either set from exactly one
 * chart value or listed below as not exposed, each value lands in its
 * variable, the chart's defaults are the proxy's defaults, and the metrics the
 * chart's alerts, dashboard and HPA use are metrics the proxy exports.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config/index.ts';
import { schema } from '../../src/config/schema.ts';
import { eachHelm, exampleChart, libraryChart, only, repoRoot } from './helm.ts';
import { schemaEnvNames, wiring } from './pod.ts';

/**
 * Variable -> [value path under drainProxy, a value to set (or the --set
 * assignments, under drainProxy, that set it), the env value expected].
 * A new variable in src/config/schema.ts fails the first test until it gets a
 * value in the chart (charts/drain-proxy: values.yaml, values.schema.json,
 * the settings list in templates/_sidecar.tpl) and a row here, or a reason in
 * NOT_EXPOSED.
 */
const MAPPED: Record<string, [string, string | string[], string]> = {
  LISTEN_PORT: ['listen.port', '9000', '9000'],
  LISTEN_ADDRESS: ['listen.address', '0.0.0.0', '0.0.0.0'],
  PROXY_PROTOCOL: ['listen.proxyProtocol', 'true', 'on'],
  HTTP_PORTS: ['http.ports', ['http.ports[0].port=8081', 'http.ports[0].upstreamPort=9081', 'http.ports[1].port=50051', 'http.ports[1].upstreamPort=50052'], '8081:9081,50051:50052'],
  TLS_CERT_FILE: ['tls.certKey', ['tls.secretName=web-tls', 'tls.certKey=chain.pem'], '/etc/drain-proxy/tls/chain.pem'],
  TLS_KEY_FILE: ['tls.keyKey', ['tls.secretName=web-tls', 'tls.keyKey=key.pem'], '/etc/drain-proxy/tls/key.pem'],
  UPSTREAM: ['upstream.port', '3000', 'http://127.0.0.1:3000'],
  UPSTREAM_PROTOCOL: ['upstream.protocol', 'h2c', 'h2c'],
  UPSTREAM_CONNECT_TIMEOUT: ['upstream.connectTimeout', '750ms', '750ms'],
  UPSTREAM_RESPONSE_TIMEOUT: ['upstream.responseTimeout', '60s', '60s'],
  ADMIN_PORT: ['admin.port', '9100', '9100'],
  ADMIN_ADDRESS: ['admin.address', '::', '::'],
  UPSTREAM_HEALTH: ['upstream.health', '/ping', '/ping'],
  HEALTH_INTERVAL: ['upstream.healthInterval', '3s', '3s'],
  DRAIN_DELAY: ['drain.delaySeconds', '7', '7s'],
  DRAIN_TIMEOUT: ['drain.timeoutSeconds', '40', '40s'],
  DRAIN_IDLE_CLOSE: ['drain.idleClose', '0', '0'],
  CLOSE_SPREAD: ['drain.closeSpread', '9s', '9s'],
  DRAIN_TOKEN: ['drain.token', 'tok3n', 'tok3n'],
  WS_CLOSE_CODE: ['websocket.closeCode', '1001', '1001'],
  WS_CLOSE_REASON: ['websocket.closeReason', 'bye', 'bye'],
  WS_CLOSE_TIMEOUT: ['websocket.closeTimeout', '4s', '4s'],
  TCP_PORTS: ['tcp.ports', ['tcp.ports[0].port=6379', 'tcp.ports[0].upstreamPort=16379', 'tcp.ports[1].port=5432', 'tcp.ports[1].upstreamPort=15432'], '6379:16379,5432:15432'],
  TCP_IDLE_CLOSE: ['tcp.idleClose', '30s', '30s'],
  KEEPALIVE_TIMEOUT: ['http.keepAliveTimeout', '75s', '75s'],
  HEADER_TIMEOUT: ['http.headerTimeout', '20s', '20s'],
  REQUEST_BODY_TIMEOUT: ['http.requestBodyTimeout', '30s', '30s'],
  MAX_HEADER_SIZE: ['http.maxHeaderSize', '32k', '32k'],
  MAX_HEADER_COUNT: ['http.maxHeaderCount', '200', '200'],
  MAX_CONNECTIONS: ['http.maxConnections', '20000', '20000'],
  MAX_CONCURRENT_STREAMS: ['http.maxConcurrentStreams', '128', '128'],
  STREAM_RESET_BURST: ['http.streamResetBurst', '500', '500'],
  STREAM_RESET_RATE: ['http.streamResetRate', '10', '10'],
  FORWARDED_HEADERS: ['http.forwardedHeaders', 'false', 'off'],
  TRUSTED_PROXIES: ['http.trustedProxies', ['http.trustedProxies=private\\,203.0.113.0/24'], 'private,203.0.113.0/24'],
  FINAL_SCRAPE_WAIT: ['monitoring.finalScrapeWait', '20s', '20s'],
  ACCESS_LOG: ['log.access', 'true', 'on'],
  LOG_LEVEL: ['log.level', 'debug', 'debug'],
};

/** Variables the chart does not take from a value, and why. */
const NOT_EXPOSED: Record<string, string> = {
  HOST_IP: 'set from the downward API (status.hostIP), never by hand',
  TERMINATION_MESSAGE_PATH: "left empty: the kubelet's /dev/termination-log (the container keeps Kubernetes' default terminationMessagePath)",
  MEMORY_LIMIT: 'set from the downward API (the container\'s resources.limits.memory), so it follows resources',
};

/** Values that are strings in values.yaml but look like numbers or booleans to --set. */
const SET_STRING = new Set(['drain.idleClose', 'websocket.closeCode']);

describe('chart values <-> src/config/schema.ts', () => {
  test('every schema variable is mapped to a value or listed as not exposed', () => {
    for (const name of schemaEnvNames) {
      assert.ok(name in MAPPED || name in NOT_EXPOSED, `${name} (src/config/schema.ts) has no chart value: add one, or list it in NOT_EXPOSED with a reason`);
    }
    for (const name of [...Object.keys(MAPPED), ...Object.keys(NOT_EXPOSED)]) {
      assert.ok(schemaEnvNames.has(name), `${name} is mapped here but is not in src/config/schema.ts any more`);
    }
  });

  test('values.yaml names only contract variables in its [VARIABLE] comments, each once', () => {
    const text = readFileSync(path.join(libraryChart, 'values.yaml'), 'utf8');
    const named = [...text.matchAll(/\[([A-Z][A-Z0-9_]+)\]/g)].map((m) => m[1]);
    for (const name of named) assert.ok(schemaEnvNames.has(name), `values.yaml mentions [${name}], which src/config/schema.ts does not define`);
    for (const name of Object.keys(MAPPED)) assert.ok(named.includes(name), `values.yaml documents which value sets ${name}`);
  });

  test('metrics used by the alerts, dashboard and HPA are exported by the proxy', () => {
    const exported = new Set<string>();
    for (const file of readdirSync(path.join(repoRoot, 'src/metrics'))) {
      for (const m of readFileSync(path.join(repoRoot, 'src/metrics', file), 'utf8').matchAll(/'(drain_proxy_[a-z_]+)'/g)) exported.add(m[1]);
    }
    assert.ok(exported.size > 5, 'found the metric names in src/metrics');
    const templates = path.join(libraryChart, 'templates');
    const used = new Set<string>();
    for (const file of readdirSync(templates)) {
      for (const m of readFileSync(path.join(templates, file), 'utf8').matchAll(/drain_proxy_[a-z_]+/g)) used.add(m[0].replace(/_(bucket|sum|count)$/, ''));
    }
    assert.ok(used.size >= 6, `the chart uses metrics: ${[...used].join(', ')}`);
    for (const name of used) assert.ok(exported.has(name), `${name} is used by the chart but not exported by src/metrics`);
  });
});

eachHelm((helm) => {
  test('each value lands in its variable, and the chart sets nothing else', () => {
    const set: string[] = [];
    const setString: string[] = [];
    for (const [, [valuePath, value]] of Object.entries(MAPPED)) {
      if (Array.isArray(value)) set.push(...value.map((assignment) => `drainProxy.${assignment}`));
      else (SET_STRING.has(valuePath) ? setString : set).push(`drainProxy.${valuePath}=${value}`);
    }
    const w = wiring(helm.render({ set, setString }));
    const rendered = new Set(w.proxy.env.map((e: { name: string }) => e.name));
    for (const [name, [valuePath, , expected]] of Object.entries(MAPPED)) {
      assert.equal(w.env.get(name), expected, `drainProxy.${valuePath} -> ${name}`);
    }
    assert.deepEqual([...rendered].sort(), [...Object.keys(MAPPED), 'HOST_IP', 'MEMORY_LIMIT'].sort(), 'the sidecar env is exactly the mapped variables, HOST_IP and MEMORY_LIMIT');
  });

  test("the chart's defaults are the proxy's defaults", () => {
    const w = wiring(helm.render());
    for (const variable of Object.values(schema)) {
      if (variable.env in NOT_EXPOSED) continue;
      const value = w.env.get(variable.env);
      if (variable.env === 'UPSTREAM_HEALTH') {
        // The example chart checks the demo app's /healthz; the library's default is below.
        continue;
      }
      // Unset: the proxy's default applies (CLOSE_SPREAD and WS_CLOSE_TIMEOUT are left unset so the proxy can shorten them to fit).
      if (value === undefined) continue;
      assert.deepEqual(variable.parse(value), variable.parse(variable.default), `${variable.env}: chart default ${value}, proxy default ${variable.default}`);
    }
    const library = parseYaml(readFileSync(path.join(libraryChart, 'values.yaml'), 'utf8'));
    assert.equal(library.upstream.health, schema.upstreamHealth.default);
  });

  test('timings the chart accepts are exactly the timings the proxy accepts', () => {
    const asEnv = (text: string): string | undefined => (text === '' ? undefined : text);
    let accepted = 0;
    let refused = 0;
    for (const delay of [5, 20, 24]) {
      for (const spread of ['', '3s', '19s']) {
        for (const closeTimeout of ['', '2s', '4500ms']) {
          const setString = [`drainProxy.drain.closeSpread=${spread}`, `drainProxy.websocket.closeTimeout=${closeTimeout}`];
          const env = { DRAIN_DELAY: `${delay}s`, DRAIN_TIMEOUT: '25s', CLOSE_SPREAD: asEnv(spread), WS_CLOSE_TIMEOUT: asEnv(closeTimeout) };
          let proxyError: unknown;
          try {
            loadConfig(env);
          } catch (err) {
            proxyError = err;
          }
          const label = `delay ${delay}s, spread ${spread || 'default'}, close timeout ${closeTimeout || 'default'}`;
          if (proxyError === undefined) {
            const w = wiring(helm.render({ set: [`drainProxy.drain.delaySeconds=${delay}`], setString }));
            assert.equal(w.env.get('CLOSE_SPREAD'), env.CLOSE_SPREAD, label);
            assert.equal(w.env.get('WS_CLOSE_TIMEOUT'), env.WS_CLOSE_TIMEOUT, label);
            loadConfig(Object.fromEntries(w.env));
            accepted++;
          } else {
            assert.match(helm.renderFailure({ set: [`drainProxy.drain.delaySeconds=${delay}`], setString }), /drain-proxy: (drain\.closeSpread|websocket\.closeTimeout) \(/, `${label}: the proxy refuses it (${(proxyError as Error).message}), so must the chart`);
            refused++;
          }
        }
      }
    }
    assert.ok(accepted > 3 && refused > 3, `both outcomes covered (${accepted} accepted, ${refused} refused)`);
  });

  test('websocket.closeSpread, the older name of drain.closeSpread, still sets CLOSE_SPREAD', () => {
    const w = wiring(helm.render({ setString: ['drainProxy.websocket.closeSpread=7s'] }));
    assert.equal(w.env.get('CLOSE_SPREAD'), '7s');
    assert.equal(w.env.get('WS_CLOSE_SPREAD'), undefined, 'the proxy gets the current name only');
  });

  test('image tag, chart appVersion and package version agree', () => {
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
    const library = parseYaml(readFileSync(path.join(libraryChart, 'values.yaml'), 'utf8'));
    const chart = parseYaml(readFileSync(path.join(libraryChart, 'Chart.yaml'), 'utf8'));
    assert.equal(library.image.tag, pkg.version);
    assert.equal(chart.appVersion, pkg.version);
    assert.equal(wiring(helm.render()).proxy.image, `${library.image.repository}:${pkg.version}`);
  });

  test("the example runs the demo's legacy app, with the npm packages it imports", () => {
    const demo = readFileSync(path.join(repoRoot, 'demo/legacy-app.ts'), 'utf8');
    const objects = helm.render();
    const code = objects.find((o) => o.kind === 'ConfigMap' && o.data?.['legacy-app.ts'] !== undefined);
    assert.ok(code, 'a ConfigMap holds the app');
    assert.equal(code.data!['legacy-app.ts'], demo.replace(/\n$/, ''), 'the ConfigMap holds demo/legacy-app.ts (files/legacy-app.ts links to it)');

    const example = parseYaml(readFileSync(path.join(exampleChart, 'values.yaml'), 'utf8'));
    const pinned = new Map<string, string>(example.app.npmDependencies.map((d: string) => [d.slice(0, d.lastIndexOf('@')), d.slice(d.lastIndexOf('@') + 1)]));
    const imported = [...demo.matchAll(/^import\s+(?!type\s)[^;]*?from\s+'([^']+)'/gm)].map((m) => m[1]).filter((s) => !s.startsWith('node:') && !s.startsWith('.'));
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
    for (const name of imported) {
      assert.ok(pinned.has(name), `demo/legacy-app.ts imports ${name}: add it to app.npmDependencies in charts/drain-proxy-example/values.yaml`);
      const range: string = pkg.dependencies?.[name] ?? pkg.devDependencies?.[name];
      assert.ok(range, `${name} is in package.json`);
      assert.equal(pinned.get(name)!.split('.')[0], range.replace(/^[\^~]/, '').split('.')[0], `${name}: same major version as package.json (${range})`);
    }
    const setup = only(objects, 'Deployment').spec.template.spec.initContainers.find((c: any) => c.name === 'app-setup');
    assert.deepEqual(setup.command.slice(4), example.app.npmDependencies, 'the setup container installs them');
  });
});
