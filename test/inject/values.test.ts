/**
 * inject takes the library chart's values: the same keys and defaults as
 * charts/drain-proxy/values.yaml, the chart's checks and messages.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { CHART_DEFAULTS, CHART_ONLY_SECTIONS } from '../../src/inject/chart-values.ts';
import { ManifestError } from '../../src/inject/errors.ts';
import { checkValues, mergeValues, parseSet, valuesLayer } from '../../src/inject/values.ts';
import { repoRoot } from './support.ts';

const chartValues = parse(readFileSync(path.join(repoRoot, 'charts/drain-proxy/values.yaml'), 'utf8'));
const packageVersion = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version;

test('the defaults are the chart\'s values.yaml, every section but the optional objects', () => {
  const { monitoring, podDisruptionBudget, autoscaling, ...podPart } = chartValues;
  assert.deepEqual(CHART_DEFAULTS, podPart);
  assert.deepEqual(Object.keys(CHART_ONLY_SECTIONS).sort(), ['autoscaling', 'monitoring', 'podDisruptionBudget']);
  const switches = Object.keys(monitoring).filter((k) => typeof monitoring[k] === 'object' && monitoring[k] !== null && 'enabled' in monitoring[k]);
  assert.deepEqual(switches.sort(), [...CHART_ONLY_SECTIONS.monitoring].sort(), 'inject refuses each monitoring object the chart can enable');
  assert.ok(podDisruptionBudget && autoscaling);
});

test("the default image is the package version's tag", () => {
  assert.equal(CHART_DEFAULTS.image.tag, packageVersion);
});

test('--set types values as Helm does and builds lists; unknown keys and upstream.port are refused with what to do', () => {
  assert.deepEqual(parseSet('drain.timeoutSeconds=40'), { drain: { timeoutSeconds: 40 } });
  assert.deepEqual(parseSet('log.access=true'), { log: { access: true } });
  assert.deepEqual(parseSet('http.trustedProxies=private,203.0.113.0/24'), { http: { trustedProxies: 'private,203.0.113.0/24' } });
  assert.deepEqual(parseSet('tcp.ports[0].port=5432'), { tcp: { ports: [{ port: 5432 }] } });
  assert.throws(() => parseSet('drain.timeout=40'), /^ManifestError: --set drain\.timeout=40: unknown value drain\.timeout: charts\/drain-proxy\/values\.yaml lists the values/);
  assert.throws(() => parseSet('upstream.port=8080'), /drain-proxy\.io\/app-port/);
  assert.throws(() => parseSet('novalue'), /expected path=value/);
  assert.throws(() => valuesLayer({ monitoring: { podMonitor: { enabled: false } }, listen: { prot: 1 } }, 'v.yaml'), /^ManifestError: v\.yaml: unknown value listen\.prot/);
});

test("the chart's checks, with its words", () => {
  const refused = (layer: object, kube: [number, number], expected: RegExp): void => {
    assert.throws(() => checkValues(mergeValues([valuesLayer(layer, 'test')]), kube), (err: Error) => err instanceof ManifestError && expected.test(err.message));
  };
  refused({ mode: 'native' }, [1, 28], /^mode native needs Kubernetes 1\.29 or later .*this cluster is 1\.28: set mode to classic or auto$/);
  refused({ terminationGracePeriodSeconds: 20 }, [1, 35], /^terminationGracePeriodSeconds \(20\) must be greater than drain\.timeoutSeconds \(25\)/);
  refused({ terminationGracePeriodSeconds: 30, monitoring: { finalScrapeWait: '10s' } }, [1, 35], /^terminationGracePeriodSeconds \(30\) must be greater than drain\.timeoutSeconds \(25\) \+ the final scrape wait \(10s, .*leave it empty: 40\)/);
  refused({ monitoring: { finalScrapeWait: 'soon' } }, [1, 35], /^monitoring\.finalScrapeWait: "soon" is not a duration/);
  refused({ admin: { port: 8000 } }, [1, 35], /^listen\.port and admin\.port are both 8000/);
  refused({ admin: { address: '127.0.0.1' } }, [1, 35], /^admin\.address must not be a loopback address/);
  refused({ monitoring: { podMonitor: { enabled: true } } }, [1, 35], /^monitoring\.podMonitor\.enabled: inject wires pods only/);
  refused({ tcp: { ports: [{ port: 8000, upstreamPort: 15432 }] } }, [1, 35], /^tcp\.ports: port 8000 is already taken/);
  refused({ drain: { closeSpread: '3s' }, websocket: { closeSpread: '4s' } }, [1, 35], /^drain\.closeSpread \(3s\) and websocket\.closeSpread \(4s\) are both set: websocket\.closeSpread is the older name of drain\.closeSpread\. Keep only drain\.closeSpread$/);
  assert.doesNotThrow(() => checkValues(mergeValues([valuesLayer({ monitoring: { podMonitor: { enabled: false } } }, 'test')]), [1, 35]), "a chart values file with the objects off is fine");
});
