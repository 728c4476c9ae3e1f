/**
 * drain-proxy watched by a real Prometheus (Debian's), the way the chart sets
 * it up: the example chart is rendered with a PodMonitor (1 s interval), the
 * PrometheusRule and the dashboard; Prometheus scrapes real proxies with the
 * PodMonitor's relabelling (pods described as Kubernetes discovery would,
 * through a file) and evaluates the rendered rules every second; each proxy
 * runs with the env the chart renders for its sidecar (MEMORY_LIMIT filled in
 * as the downward API would). Ten pods, one scenario each, run at once:
 *
 *   steady     traffic (HTTP/1.1 and a WebSocket), then a drain that completes: no alert
 *   cut        a request longer than the deadline: cut, exit code 3 -> DrainProxyDrainDeadlineCut
 *   slow       a drain that completes past 80% of the deadline -> DrainProxySlowDrain
 *   denied     /drain from another pod's address, then SIGTERM -> DrainProxyDrainDenied
 *   restart    the proxy killed and started again in its pod -> DrainProxyRestarted
 *   notready   no app behind it -> DrainProxyNotReady (for: shortened to 1s by values)
 *   flapping   the app's port closes and opens again, twice -> DrainProxyReadinessFlapping
 *   websocket  a WebSocket client that never answers the close frame -> DrainProxyWebSocketCloseTimeouts
 *   abuse      malformed requests, a SETTINGS flood and connections beyond MAX_CONNECTIONS -> DrainProxyRequestsRejected,
 *              DrainProxyLimitsEnforced, DrainProxyConnectionsRefused
 *   memory     a memory limit below what the idle proxy uses: connections refused -> DrainProxyMemoryPressure
 *
 * Every drained pod leaves the targets once its process has exited, as a
 * deleted pod leaves service discovery: what Prometheus holds of its drain is
 * what the last scrape caught.
 *
 * Runs in a fresh network namespace (rollout/netns.ts) where the /drain caller
 * can have an address other than loopback. Prometheus is installed and the
 * chart rendered first, in the root namespace, where the network is.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket, WebSocketServer } from 'ws';
import { enterFreshNetns, netnsAvailable, NETNS_ENV } from '../../rollout/netns.ts';
import { ensurePrometheus, podMonitorScrapeConfig, PrometheusServer, ruleFile, writePodTargets, type PodTarget } from '../helpers/prometheus.ts';
import { startDrainProxy, type DrainProxy } from '../../harness/drain-proxy.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { runAbuse } from '../helpers/abuse.ts';

/** The rendered chart's objects, as JSON, handed from the root namespace to the re-executed child. */
const OBJECTS_ENV = 'DRAIN_PROXY_PROMETHEUS_TEST_OBJECTS';
/** Not loopback, not the node: a caller /drain refuses. Added to the namespace's own `lo`. */
const OTHER_POD_IP = '169.254.77.7';
const NAMESPACE = 'shop';
const WORKLOAD = 'demo-drain-proxy-example';
const VALUES = [
  'drainProxy.drain.delaySeconds=1', 'drainProxy.drain.timeoutSeconds=5',
  'drainProxy.monitoring.podMonitor.enabled=true', 'drainProxy.monitoring.prometheusRule.enabled=true', 'drainProxy.monitoring.dashboard.enabled=true',
  'drainProxy.monitoring.prometheusRule.readinessChanges=3', 'drainProxy.monitoring.prometheusRule.rejectedRequests=5',
];
const STRING_VALUES = ['drainProxy.monitoring.podMonitor.interval=1s', 'drainProxy.monitoring.prometheusRule.notReadyFor=1s', 'drainProxy.websocket.closeSpread=500ms', 'drainProxy.websocket.closeTimeout=1s'];

let skip: string | undefined = process.getuid?.() === 0 ? undefined : 'needs root (apt-get install prometheus, a network namespace)';
if (process.env[NETNS_ENV] === undefined && skip === undefined) {
  skip = await ensurePrometheus();
  if (skip === undefined) {
    const { helms, OPERATOR_API } = await import('../charts/helm.ts');
    const objects = helms[0].render({ set: VALUES, setString: STRING_VALUES, apiVersions: OPERATOR_API, namespace: NAMESPACE });
    const file = join(mkdtempSync(join(tmpdir(), 'prometheus-test-')), 'objects.json');
    writeFileSync(file, JSON.stringify(objects));
    process.env[OBJECTS_ENV] = file;
    if (netnsAvailable()) await enterFreshNetns({ iptables: false });
  }
}
const inNamespace = process.env[NETNS_ENV] !== undefined;

interface Pod {
  readonly name: string;
  proxy: DrainProxy;
  upstream?: TestUpstream;
  socket?: WebSocket;
}

const started: Array<{ stop?: () => Promise<unknown>; close?: () => Promise<unknown> }> = [];
const pods = new Map<string, Pod>();
const firing = new Map<string, Set<string>>();
const targets = new Map<string, PodTarget>();
let objects: any[];
let prometheus: PrometheusServer;
let targetsFile: string;
let dir: string;
let startedAt: number;
let watching = true;
let watcher: Promise<void> = Promise.resolve();
let sidecarEnv: Record<string, string>;
let sharedApp: TestUpstream;
/** The scenarios that run while the steady pod serves and drains. */
let others: Promise<unknown> = Promise.resolve();
const wss = new WebSocketServer({ noServer: true });

function podName(scenario: string): string {
  return `${WORKLOAD}-${scenario}`;
}

function kind(name: string): any {
  const found = objects.filter((o) => o.kind === name);
  assert.equal(found.length, 1, `one ${name} rendered`);
  return found[0];
}

function dashboard(): any {
  const configMap = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.labels?.grafana_dashboard === '1');
  return JSON.parse(Object.values(configMap.data as Record<string, string>)[0]);
}

/** A test app that also echoes WebSockets. */
async function app(port = 0): Promise<TestUpstream> {
  const upstream = await startUpstream(port);
  upstream.server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data) => ws.send(data))));
  started.push(upstream);
  return upstream;
}

async function startPod(scenario: string, upstreamPort: number, env: Record<string, string> = {}, ports?: { listen: number; admin: number }): Promise<DrainProxy> {
  const proxy = await startDrainProxy(upstreamPort, { env: { ...sidecarEnv, HEALTH_INTERVAL: '200ms', ...env }, wait: 'live', listenPort: ports?.listen, adminPort: ports?.admin });
  started.push(proxy);
  const name = podName(scenario);
  const podMonitor = kind('PodMonitor');
  targets.set(name, {
    address: `127.0.0.1:${proxy.adminPort}`, namespace: NAMESPACE, pod: name, container: 'drain-proxy',
    portName: podMonitor.spec.podMetricsEndpoints[0].port, podLabels: podMonitor.spec.selector.matchLabels,
  });
  return proxy;
}

function syncTargets(): void {
  writePodTargets(targetsFile, [...targets.values()]);
}

/** SIGTERM, then, once the process has exited, the pod leaves service discovery. */
function drain(pod: Pod): Promise<void> {
  pod.proxy.signal('SIGTERM');
  return pod.proxy.exited.then(() => {
    targets.delete(pod.name);
    syncTargets();
  });
}

/** Every alert seen pending or firing, by pod, polled for the whole run. */
async function watchAlerts(): Promise<void> {
  while (watching) {
    for (const alert of await prometheus.alerts()) {
      if (alert.state !== 'firing') continue;
      const pod = alert.labels.pod ?? '';
      if (!firing.has(pod)) firing.set(pod, new Set());
      firing.get(pod)!.add(alert.labels.alertname);
    }
    await sleep(300);
  }
}

function seen(scenario: string): string[] {
  return [...(firing.get(podName(scenario)) ?? [])].sort();
}

async function waitForAlert(scenario: string, alert: string, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!seen(scenario).includes(alert) && performance.now() < deadline) await sleep(250);
}

/** A dashboard expression with Grafana's variables as the dashboard would fill them in (1 s scrapes). */
function grafanaExpr(expr: string): string {
  const range = `${Math.ceil((Date.now() - startedAt) / 1000) + 5}s`;
  return expr.replaceAll('$namespace', NAMESPACE).replaceAll('$pod', `${WORKLOAD}-.*`).replaceAll('$__rate_interval', '4s').replaceAll('$__range', range);
}

/** The label names a legend format like `{{pod}} {{protocol}}` reads. */
function legendLabels(legendFormat: string): string[] {
  return [...legendFormat.matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]);
}

async function checkPanels(filter: (title: string) => boolean): Promise<number> {
  let checked = 0;
  for (const panel of dashboard().panels) {
    if (!filter(panel.title)) continue;
    for (const target of panel.targets) {
      const expr = grafanaExpr(target.expr);
      const now = Date.now() / 1000;
      const result = target.instant ? await prometheus.query(expr) : await prometheus.queryRange(expr, startedAt / 1000, now, 1);
      assert.ok(result.length > 0, `panel "${panel.title}": ${expr} returns data`);
      for (const series of result) {
        for (const label of legendLabels(target.legendFormat)) assert.ok(series.metric[label], `panel "${panel.title}": every series has ${label} (${JSON.stringify(series.metric)})`);
      }
      checked++;
    }
  }
  return checked;
}

/**
 * The scenarios that run in the background: restart, readiness flapping,
 * abuse, memory pressure, a refused /drain, a WebSocket that never answers its close frame.
 */
function otherScenarios(): Promise<unknown> {
  const work: Promise<unknown>[] = [];
  // restart: killed (a crash, an OOM kill), started again on its ports in its pod.
  work.push((async () => {
    const pod = pods.get('restart')!;
    await sleep(1500);
    pod.proxy.signal('SIGKILL');
    await pod.proxy.exited;
    pod.proxy = await startPod('restart', sharedApp.port, {}, { listen: pod.proxy.listenPort, admin: pod.proxy.adminPort });
    await pod.proxy.waitForReady(200);
  })());
  // flapping: the app's port closes and opens, twice (four readiness changes), each state held for a few scrapes.
  work.push((async () => {
    const pod = pods.get('flapping')!;
    const port = pod.upstream!.port;
    for (let i = 0; i < 2; i++) {
      await pod.upstream!.close();
      await pod.proxy.waitForReady(503);
      await sleep(2500);
      pod.upstream = await app(port);
      await pod.proxy.waitForReady(200);
      await sleep(2500);
    }
  })());
  // abuse: six malformed requests (400), a SETTINGS flood (one HTTP/2 session, closed), then a third connection past MAX_CONNECTIONS=2.
  work.push((async () => {
    const pod = pods.get('abuse')!;
    for (let i = 0; i < 6; i++) {
      const client = await RawClient.connect(pod.proxy.listenPort);
      client.write('GET / HTTP/1.1\r\nHost: test\r\nBad Header\r\n\r\n');
      assert.equal((await client.response()).status, 400);
      await client.closed;
    }
    const flood = await runAbuse('h2-settings-flood', { port: pod.proxy.listenPort, connections: 1, maxConnections: 1, until: performance.now() + 3000 });
    assert.equal(flood.closedByServer, 1, 'the flooding session is closed');
    const held = [await RawClient.connect(pod.proxy.listenPort), await RawClient.connect(pod.proxy.listenPort)];
    await sleep(200);
    const refused = await RawClient.connect(pod.proxy.listenPort);
    assert.notEqual((await refused.closed).at, 0, 'closed as soon as accepted');
    for (const client of held) client.destroy();
  })());
  // memory: under pressure from the start (64 Mi, below what the idle process uses): a new connection is refused.
  work.push((async () => {
    const pod = pods.get('memory')!;
    await pod.proxy.waitForLog('memory above 90% of MEMORY_LIMIT: refusing new connections, shedding the most expensive');
    const refused = await RawClient.connect(pod.proxy.listenPort);
    assert.notEqual((await refused.closed).at, 0, 'closed as soon as accepted');
    assert.equal((await pod.proxy.admin('/readyz')).status, 200, 'still ready');
  })());
  // denied: /drain from another pod's address (the kubelet's hook on a network where it does not come from the node), then SIGTERM.
  work.push((async () => {
    const pod = pods.get('denied')!;
    if (!inNamespace) return;
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: OTHER_POD_IP, localAddress: OTHER_POD_IP, port: pod.proxy.adminPort, path: '/drain', method: 'POST' }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.once('error', reject).end();
    });
    assert.equal(status, 403);
    await sleep(1500);
    await drain(pod);
  })());
  // websocket: a client that upgrades, then never answers anything.
  work.push((async () => {
    const pod = pods.get('websocket')!;
    const client = await RawClient.connect(pod.proxy.listenPort);
    client.write(`GET /ws HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${Buffer.from('0123456789abcdef').toString('base64')}\r\n\r\n`);
    await prometheus.eventually(`drain_proxy_connections_active{pod="${pod.name}", protocol="websocket"} == 1`);
    await drain(pod);
    assert.equal((await pod.proxy.exited).code, 0);
    client.destroy();
  })());
  return Promise.all(work);
}

before(async () => {
  if (skip) return;
  objects = JSON.parse(readFileSync(process.env[OBJECTS_ENV]!, 'utf8'));
  if (inNamespace) execFileSync('ip', ['addr', 'add', `${OTHER_POD_IP}/32`, 'dev', 'lo']);
  dir = mkdtempSync(join(tmpdir(), 'prometheus-pods-'));
  targetsFile = join(dir, 'pods.json');
  const deployment = kind('Deployment').spec.template.spec;
  const sidecar = [...(deployment.initContainers ?? []), ...deployment.containers].find((c: any) => c.name === 'drain-proxy');
  sidecarEnv = Object.fromEntries(sidecar.env.filter((e: any) => e.value !== undefined && !['LISTEN_PORT', 'LISTEN_ADDRESS', 'ADMIN_PORT', 'ADMIN_ADDRESS', 'UPSTREAM'].includes(e.name)).map((e: any) => [e.name, e.value]));
  assert.equal(sidecarEnv.FINAL_SCRAPE_WAIT, '3s', 'the chart derives the final scrape wait from the 1 s interval');
  const memoryLimit = sidecar.env.find((e: any) => e.name === 'MEMORY_LIMIT');
  assert.equal(memoryLimit?.valueFrom?.resourceFieldRef?.resource, 'limits.memory', 'MEMORY_LIMIT from the container\'s own limit');
  // The downward API gives it in bytes; the proxy reads the quantity's Mi as well.
  sidecarEnv.MEMORY_LIMIT = sidecar.resources.limits.memory;

  startedAt = Date.now();
  const shared = await app();
  sharedApp = shared;
  const scenarios = ['steady', 'cut', 'slow', 'restart', 'websocket'];
  for (const scenario of scenarios) pods.set(scenario, { name: podName(scenario), proxy: await startPod(scenario, shared.port) });
  pods.set('denied', { name: podName('denied'), proxy: await startPod('denied', shared.port, { ADMIN_ADDRESS: '' }) });
  pods.set('abuse', { name: podName('abuse'), proxy: await startPod('abuse', shared.port, { MAX_CONNECTIONS: '2' }) });
  pods.set('memory', { name: podName('memory'), proxy: await startPod('memory', shared.port, { MEMORY_LIMIT: '64Mi' }) });
  const flappingApp = await app();
  pods.set('flapping', { name: podName('flapping'), proxy: await startPod('flapping', flappingApp.port), upstream: flappingApp });
  const nowhere = await app();
  await nowhere.close();
  pods.set('notready', { name: podName('notready'), proxy: await startPod('notready', nowhere.port) });
  syncTargets();
  for (const [scenario, pod] of pods) if (scenario !== 'notready') await pod.proxy.waitForReady(200);

  prometheus = await PrometheusServer.start({
    scrapeConfigs: [podMonitorScrapeConfig(kind('PodMonitor'), targetsFile)],
    rules: [ruleFile(kind('PrometheusRule'))],
  });
  started.push(prometheus);
  watcher = watchAlerts();
  const up = await prometheus.eventually(`count(up{namespace="${NAMESPACE}"} == 1) == ${pods.size}`, 20_000);
  assert.equal(up.length, 1, `Prometheus scrapes the ${pods.size} pods: ${JSON.stringify(await prometheus.query('up'))}`);
}, { timeout: 60_000 });

after(async () => {
  watching = false;
  await watcher;
  for (const thing of started.reverse()) await (thing.stop ? thing.stop() : thing.close!());
  wss.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (process.env[OBJECTS_ENV]) rmSync(dirname(process.env[OBJECTS_ENV]), { recursive: true, force: true });
});

test('steady traffic: every traffic panel of the dashboard returns series with its labels; the HPA query one value per pod', { skip }, async () => {
  others = otherScenarios();
  others.catch(() => {});
  const steady = pods.get('steady')!;
  const socket = new WebSocket(`ws://127.0.0.1:${steady.proxy.listenPort}/`);
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  socket.on('error', () => {});
  for (let i = 0; i < 60; i++) {
    const res = await fetch(steady.proxy.url(`/items/${i}`));
    assert.equal(res.status, 200);
    await res.text();
    await sleep(50);
  }
  // Scraped with the WebSocket open and the requests counted.
  await prometheus.eventually(`drain_proxy_connections_active{pod="${steady.name}", protocol="websocket"} == 1`);
  await prometheus.eventually(`drain_proxy_requests_total{pod="${steady.name}", code_class="2xx"} >= 60`);
  const traffic = (title: string): boolean => /^(Pods ready|Open connections by protocol|In-flight|Requests per second|Request duration)/.test(title);
  assert.equal(await checkPanels(traffic), 7, 'the seven traffic queries');

  // prometheus-adapter's rule from docs/helm.md, as the adapter fills it in for the HPA's pods.
  const doc = readFileSync(new URL('../../docs/helm.md', import.meta.url), 'utf8');
  const rule = /<!-- test: prometheus-adapter -->\n```yaml\n[\s\S]*?metricsQuery: '([^']+)'/.exec(doc)![1];
  const series = /seriesQuery: '([a-z_]+)\{/.exec(doc)![1];
  const podNames = [...pods.values()].map((p) => p.name);
  const expr = rule.replace('<<.GroupBy>>', 'pod').replace('<<.Series>>', series).replace('<<.LabelMatchers>>', `namespace="${NAMESPACE}",pod=~"${podNames.join('|')}"`);
  // One moment for both queries: the background scenarios drain pods meanwhile.
  const at = Date.now() / 1000 - 1;
  const live = (await prometheus.query(`up{namespace="${NAMESPACE}"} == 1`, at)).map((s) => s.metric.pod).sort();
  assert.ok(live.length >= 6, `pods up: ${live.join(', ')}`);
  const values = await prometheus.query(expr, at);
  assert.deepEqual(values.map((v) => v.metric.pod).sort(), live, `${expr}: one value per pod`);
  assert.ok(values.every((v) => Object.keys(v.metric).join() === 'pod'), 'grouped by pod only');
  assert.equal(Number(values.find((v) => v.metric.pod === steady.name)!.value[1]), 2, 'the WebSocket and the keep-alive connection');
  steady.socket = socket;
});

test('a drain that completes: after the exit Prometheus holds its duration and its closes by reason', { skip }, async () => {
  const steady = pods.get('steady')!;
  const closed = new Promise<number>((resolve) => steady.socket!.once('close', (code) => resolve(code)));
  // A keep-alive connection idle at t0 and the WebSocket.
  await drain(steady);
  assert.equal(await closed, 1012, 'the WebSocket was told to go');
  const exit = await steady.proxy.exited;
  assert.equal(exit.code, 0);
  const finished = steady.proxy.log('drain finished')!;
  const exiting = steady.proxy.log('exiting')!;
  assert.equal(exiting.finalScrape, 'scraped', 'the process exited once Prometheus had scraped the outcome');
  const at = `{pod="${steady.name}"}`;
  // Asked once the pod has left the targets, as a deleted pod leaves service discovery.
  assert.equal((await prometheus.eventually(`absent(up${at})`)).length, 1, 'the pod is gone from the targets');
  const [duration] = await prometheus.query(`max_over_time(drain_proxy_drain_duration_seconds${at}[5m])`);
  assert.equal(Number(duration.value[1]), (finished.durationMs as number) / 1000, 'the duration, set in the last moments, reached Prometheus');
  const [completed] = await prometheus.query(`max_over_time(drain_proxy_drains_total{pod="${steady.name}", outcome="completed"}[5m])`);
  assert.equal(completed.value[1], '1');
  const closes = await prometheus.query(`max by (protocol, reason) (max_over_time(drain_proxy_connections_closed_total{pod="${steady.name}", reason=~"drain_.*"}[5m])) > 0`);
  const byReason = Object.fromEntries(closes.map((s) => [`${s.metric.protocol} ${s.metric.reason}`, Number(s.value[1])]));
  assert.equal(byReason['websocket drain_close_frame'], 1, JSON.stringify(byReason));
  assert.equal(byReason['http1 drain_deadline'], undefined, 'nothing cut');
});

test('a drain cut at the deadline: the cut is in Prometheus after the exit and DrainProxyDrainDeadlineCut fires; a slow drain fires DrainProxySlowDrain', { skip }, async () => {
  const cut = pods.get('cut')!;
  const slow = pods.get('slow')!;
  const long = await RawClient.connect(cut.proxy.listenPort);
  long.write('GET /slow?ms=20000 HTTP/1.1\r\nHost: test\r\n\r\n');
  // 4.5 s of the 5 s deadline: completes past the 80% (4 s) mark.
  const almost = await RawClient.connect(slow.proxy.listenPort);
  almost.write('GET /slow?ms=4500 HTTP/1.1\r\nHost: test\r\n\r\n');
  await sleep(100);
  await Promise.all([drain(cut), drain(slow)]);
  assert.equal((await cut.proxy.exited).code, 3);
  assert.equal((await slow.proxy.exited).code, 0);
  assert.equal((await almost.response()).status, 200);
  for (const pod of [cut, slow]) assert.equal(pod.proxy.log('exiting')!.finalScrape, 'scraped', `${pod.name}: the outcome was scraped before the exit`);
  const [deadline] = await prometheus.query(`sum(max_over_time(drain_proxy_connections_closed_total{pod="${cut.name}", reason="drain_deadline"}[5m]))`);
  assert.equal(deadline.value[1], '1', 'the cut, counted in the last moments, reached Prometheus');
  const [outcome] = await prometheus.query(`max_over_time(drain_proxy_drains_total{pod="${cut.name}", outcome="deadline"}[5m])`);
  assert.equal(outcome.value[1], '1');
  const rules = kind('PrometheusRule').spec.groups[0].rules;
  const expr = (alert: string): string => rules.find((r: any) => r.alert === alert).expr;
  assert.deepEqual((await prometheus.query(expr('DrainProxyDrainDeadlineCut'))).map((s) => s.metric.pod), [cut.name], 'the alert expression is true for the cut pod, after its exit');
  assert.deepEqual((await prometheus.query(expr('DrainProxySlowDrain'))).map((s) => s.metric.pod), [slow.name], 'the slow drain, and not the cut one');
  await waitForAlert('cut', 'DrainProxyDrainDeadlineCut');
  await waitForAlert('slow', 'DrainProxySlowDrain');
  assert.deepEqual(seen('cut'), ['DrainProxyDrainDeadlineCut']);
  assert.deepEqual(seen('slow'), ['DrainProxySlowDrain']);
});

test('every alert fires in its scenario, with its annotations rendered, and nothing fires for a normal drain', { skip }, async () => {
  await others;
  const expected: Record<string, string[]> = {
    denied: ['DrainProxyDrainDenied'],
    restart: ['DrainProxyRestarted'],
    notready: ['DrainProxyNotReady'],
    flapping: ['DrainProxyReadinessFlapping'],
    websocket: ['DrainProxyWebSocketCloseTimeouts'],
    abuse: ['DrainProxyConnectionsRefused', 'DrainProxyLimitsEnforced', 'DrainProxyRequestsRejected'],
    memory: ['DrainProxyMemoryPressure'],
  };
  if (!inNamespace) delete expected.denied;
  for (const [scenario, alerts] of Object.entries(expected)) for (const alert of alerts) await waitForAlert(scenario, alert);
  for (const [scenario, alerts] of Object.entries(expected)) {
    // Flapping readiness is also "not ready" while the app is away, and a restarted proxy is until its first check.
    const tolerated = scenario === 'flapping' || scenario === 'restart' ? ['DrainProxyNotReady'] : [];
    assert.deepEqual(seen(scenario).filter((a) => !tolerated.includes(a)), alerts, `${scenario}: ${seen(scenario).join(', ')}`);
  }
  assert.deepEqual(seen('steady'), [], 'a drain that completes alerts nobody');
  const annotations = (await prometheus.alerts()).map((a) => a.annotations.description);
  assert.ok(annotations.length >= 8);
  for (const text of annotations) {
    assert.doesNotMatch(text, /error expanding|<no value>|%!/, text);
    assert.match(text, new RegExp(`${NAMESPACE}/${WORKLOAD}-`), text);
  }
});

test('every panel of the dashboard returns series with the labels its legend reads; the final scrape cost', { skip }, async (t) => {
  const checked = await checkPanels(() => true);
  assert.equal(checked, dashboard().panels.flatMap((p: any) => p.targets).length, 'every query');
  const waits = [...pods.values()].map((p) => p.proxy.log('exiting')).filter((line) => line !== undefined).map((line) => line!.finalScrapeWaitedMs as number);
  t.diagnostic(`final scrape waits (1 s scrape interval, ms from the drain's end to the exit's release): ${waits.join(', ')}`);
  assert.ok(waits.length >= 5 && waits.every((ms) => ms <= 3000));
});
