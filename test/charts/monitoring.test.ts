/**
 * The chart's monitoring objects checked by Prometheus's own tools: the
 * PrometheusRule loads (`promtool check rules`) and every alert fires on the
 * synthetic series it is about, and only on them (`promtool test rules`),
 * including pods whose series end with their drain; the dashboard holds what
 * Grafana needs to load it. test/integration/prometheus.test.ts runs the same
 * objects against a real Prometheus scraping real proxies.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { eachHelm, find, only, OPERATOR_API, type K8sObject } from './helm.ts';
import { ensurePrometheus, promtool, ruleFile } from '../helpers/prometheus.ts';

let skip: string | undefined;
const dir = mkdtempSync(path.join(tmpdir(), 'chart-monitoring-'));
before(async () => {
  skip = await ensurePrometheus();
});
after(() => rmSync(dir, { recursive: true, force: true }));

const MONITORING = ['drainProxy.monitoring.podMonitor.enabled=true', 'drainProxy.monitoring.prometheusRule.enabled=true', 'drainProxy.monitoring.dashboard.enabled=true'];

/** A series as the PodMonitor labels it, for pod demo-drain-proxy-example-<pod> in namespace shop. */
function series(metric: string, pod: string, values: string, labels: Record<string, string> = {}, instance = '10.0.0.1:9901'): { series: string; values: string } {
  const all = { namespace: 'shop', pod: `demo-drain-proxy-example-${pod}`, container: 'drain-proxy', endpoint: 'drain-admin', job: 'shop/demo-drain-proxy-example-drain-proxy', instance, ...labels };
  return { series: `${metric}{${Object.entries(all).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}}`, values };
}

/** The labels an alert of `pod` carries. */
function fired(pod: string, extra: Record<string, string> = {}): { exp_labels: Record<string, string> } {
  return { exp_labels: { severity: 'warning', namespace: 'shop', pod: `demo-drain-proxy-example-${pod}`, ...extra } };
}

interface Case {
  readonly alert: string;
  readonly series: Array<{ series: string; values: string }>;
  /** eval time -> the alerts expected then. */
  readonly expect: Record<string, Array<{ exp_labels: Record<string, string> }>>;
}

/**
 * One case per alert, 15 s scrapes (the chart's default interval). Pods whose
 * series end in `stale` are gone: their drain was their last scrape.
 */
const CASES: Case[] = [
  {
    alert: 'DrainProxyDrainDeadlineCut',
    series: [
      // Pod a: its drain cut 2 HTTP/1.1 connections and a WebSocket, then the pod went away.
      series('drain_proxy_connections_closed_total', 'a', '0x20 2 2 stale', { protocol: 'http1', reason: 'drain_deadline' }),
      series('drain_proxy_connections_closed_total', 'a', '0x20 1 1 stale', { protocol: 'websocket', reason: 'drain_deadline' }),
      // Pod b: a drain that completed.
      series('drain_proxy_connections_closed_total', 'b', '0x20 0 0 stale', { protocol: 'http1', reason: 'drain_deadline' }),
      series('drain_proxy_connections_closed_total', 'b', '0x20 9 9 stale', { protocol: 'http1', reason: 'drain_hint' }),
    ],
    expect: { '4m': [], '6m': [fired('a')], '21m': [] },
  },
  {
    alert: 'DrainProxySlowDrain',
    series: [
      // Pod a: completed in 22 s, past 80% of the 25 s deadline.
      series('drain_proxy_drain_duration_seconds', 'a', '0x20 22 22 stale'),
      series('drain_proxy_drains_total', 'a', '0x20 0 0 stale', { outcome: 'deadline' }),
      series('drain_proxy_drains_total', 'a', '0x20 1 1 stale', { outcome: 'completed' }),
      // Pod b: cut at the deadline (DrainProxyDrainDeadlineCut's business, not this alert's).
      series('drain_proxy_drain_duration_seconds', 'b', '0x20 25 25 stale'),
      series('drain_proxy_drains_total', 'b', '0x20 1 1 stale', { outcome: 'deadline' }),
      // Pod c: a quick drain.
      series('drain_proxy_drain_duration_seconds', 'c', '0x20 6 6 stale'),
      series('drain_proxy_drains_total', 'c', '0x20 0 0 stale', { outcome: 'deadline' }),
    ],
    expect: { '4m': [], '6m': [fired('a')], '21m': [] },
  },
  {
    alert: 'DrainProxyRestarted',
    series: [
      // Pod a: the proxy restarted (a new start time on the same target).
      series('process_start_time_seconds', 'a', '1000x20 1400x20'),
      series('drain_proxy_ready', 'a', '1x20 _ 1x19'),
      // Pod b: the app restarted; its own process_start_time_seconds is not the proxy's.
      series('process_start_time_seconds', 'b', '1000x20 1400x20', { container: 'app', endpoint: 'http' }, '10.0.0.2:8080'),
      series('process_start_time_seconds', 'b', '1000x40', {}, '10.0.0.2:9901'),
      series('drain_proxy_ready', 'b', '1x40', {}, '10.0.0.2:9901'),
    ],
    expect: { '4m': [], '6m': [fired('a')] },
  },
  {
    alert: 'DrainProxyNotReady',
    series: [
      // Pod a: the app never became healthy.
      series('drain_proxy_ready', 'a', '0x60'),
      series('drain_proxy_draining', 'a', '0x60'),
      // Pod b: not ready because it drains.
      series('drain_proxy_ready', 'b', '1x10 0x50'),
      series('drain_proxy_draining', 'b', '0x10 1x50'),
    ],
    expect: { '4m': [], '10m': [fired('a')] },
  },
  {
    alert: 'DrainProxyReadinessFlapping',
    series: [
      // Pod a: the app's health check passes and fails in turn.
      series('drain_proxy_ready', 'a', '1 0 0 1 1 0 0 1 1 0 0 1 1 1'),
      // Pod b: one drain (one change), then gone.
      series('drain_proxy_ready', 'b', '1x10 0 0 stale'),
    ],
    expect: { '3m': [fired('a')], '20m': [] },
  },
  {
    alert: 'DrainProxyDrainDenied',
    series: [
      // Pod a: the kubelet's preStop hook was refused just before the pod went away.
      series('drain_proxy_drain_denied_total', 'a', '0x20 1 1 stale'),
      series('drain_proxy_drain_denied_total', 'b', '0x20 0 0 stale'),
    ],
    expect: { '6m': [fired('a')], '20m': [] },
  },
  {
    alert: 'DrainProxyWebSocketCloseTimeouts',
    series: [
      // Pod a: 3 of the 10 WebSockets of its drain never completed the closing handshake.
      series('drain_proxy_websocket_close_timeouts_total', 'a', '0x20 3 3 stale'),
      series('drain_proxy_websocket_close_handshake_seconds_count', 'a', '0x20 7 7 stale'),
      // Pod b: 1 of 50: under the 10% threshold.
      series('drain_proxy_websocket_close_timeouts_total', 'b', '0x20 1 1 stale'),
      series('drain_proxy_websocket_close_handshake_seconds_count', 'b', '0x20 49 49 stale'),
      // Pod c: no WebSockets at all (0/0).
      series('drain_proxy_websocket_close_timeouts_total', 'c', '0x22 stale'),
      series('drain_proxy_websocket_close_handshake_seconds_count', 'c', '0x22 stale'),
    ],
    expect: { '6m': [fired('a')], '25m': [] },
  },
  {
    alert: 'DrainProxyConnectionsRefused',
    series: [
      series('drain_proxy_connections_refused_total', 'a', '0x10 5x10', { reason: 'max_connections' }),
      series('drain_proxy_connections_refused_total', 'a', '0x20', { reason: 'accept_failed' }),
      // Pod b: refused under memory pressure: DrainProxyMemoryPressure's business.
      series('drain_proxy_connections_refused_total', 'b', '0x10 5x10', { reason: 'memory_pressure' }),
    ],
    expect: { '2m': [], '4m': [fired('a', { reason: 'max_connections' })] },
  },
  {
    alert: 'DrainProxyRequestsRejected',
    series: [
      // Pod a: 40 slow heads a scrape (a slowloris); pod b: one malformed request a scrape.
      series('drain_proxy_rejected_requests_total', 'a', '0+40x40', { code: 'DP_HEADER_TIMEOUT' }),
      series('drain_proxy_rejected_requests_total', 'b', '0+1x40', { code: 'DP_BAD_HEADER' }),
    ],
    expect: { '9m': [fired('a')] },
  },
  {
    alert: 'DrainProxyLimitsEnforced',
    series: [
      // Pod a: one session closed for rapid reset, another for a PING flood; none over the stream limit.
      series('drain_proxy_limits_enforced_total', 'a', '0x10 1x40', { reason: 'h2_stream_resets' }),
      series('drain_proxy_limits_enforced_total', 'a', '0x15 1x35', { reason: 'h2_ack_flood' }),
      series('drain_proxy_limits_enforced_total', 'a', '0x50', { reason: 'h2_concurrent_streams' }),
      // Pod b: connections shed by the memory guard: DrainProxyMemoryPressure's business.
      series('drain_proxy_limits_enforced_total', 'b', '0x10 3x40', { reason: 'memory_shed' }),
    ],
    expect: {
      '2m': [],
      '5m': [fired('a', { reason: 'h2_stream_resets' }), fired('a', { reason: 'h2_ack_flood' })],
      '20m': [],
    },
  },
  {
    alert: 'DrainProxyMemoryPressure',
    series: [
      // Pod a: under pressure for five scrapes.
      series('drain_proxy_memory_pressure', 'a', '0x10 1x5 0x100'),
      // Pod b: refused connections under pressure that began and ended between two scrapes.
      series('drain_proxy_memory_pressure', 'b', '0x115'),
      series('drain_proxy_connections_refused_total', 'b', '0x10 4x105', { reason: 'memory_pressure' }),
      // Pod c: likewise, connections shed.
      series('drain_proxy_memory_pressure', 'c', '0x115'),
      series('drain_proxy_limits_enforced_total', 'c', '0x10 2x105', { reason: 'memory_shed' }),
      // Pod d: connections refused over MAX_CONNECTIONS, never under pressure.
      series('drain_proxy_memory_pressure', 'd', '0x115'),
      series('drain_proxy_connections_refused_total', 'd', '0x10 9x105', { reason: 'max_connections' }),
    ],
    expect: { '2m': [], '4m': [fired('a'), fired('b'), fired('c')], '25m': [] },
  },
];

/** The rule file without annotations: promtool compares annotations whole, and theirs are checked against a real Prometheus. */
function ruleFileWithoutAnnotations(rule: K8sObject): string {
  const copy = structuredClone(rule);
  for (const group of copy.spec.groups) for (const r of group.rules) delete r.annotations;
  return ruleFile(copy);
}

eachHelm((helm) => {
  const objects = (): K8sObject[] => helm.render({ set: MONITORING, apiVersions: OPERATOR_API });

  test('the PrometheusRule passes promtool check rules', (t) => {
    if (skip) return t.skip(skip);
    const file = path.join(dir, `${helm.major}-rules.yaml`);
    writeFileSync(file, ruleFile(only(objects(), 'PrometheusRule')));
    const result = promtool(['check', 'rules', file]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /SUCCESS: 11 rules found/);
  });

  test('every alert fires on the series it is about, and only there (promtool test rules)', (t) => {
    if (skip) return t.skip(skip);
    const rule = only(objects(), 'PrometheusRule');
    const names = rule.spec.groups.flatMap((g: any) => g.rules.map((r: any) => r.alert));
    assert.deepEqual([...new Set(CASES.map((c) => c.alert))].sort(), [...names].sort(), 'a case for every alert of the chart');
    const rulesPath = path.join(dir, `${helm.major}-unit-rules.yaml`);
    writeFileSync(rulesPath, ruleFileWithoutAnnotations(rule));
    const tests = CASES.map((c) => ({
      name: c.alert,
      interval: '15s',
      input_series: c.series,
      alert_rule_test: Object.entries(c.expect).map(([at, alerts]) => ({ eval_time: at, alertname: c.alert, exp_alerts: alerts.map((a) => ({ exp_labels: { alertname: undefined, ...a.exp_labels } })) })),
    }));
    const testFile = path.join(dir, `${helm.major}-unit.yaml`);
    writeFileSync(testFile, stringify({ rule_files: [rulesPath], evaluation_interval: '15s', tests }, { lineWidth: 0 }));
    const result = promtool(['test', 'rules', testFile]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /SUCCESS/);
  });

  test('the dashboard loads as Grafana reads it: schema version, unique ids, a Prometheus data source variable, a grid', () => {
    const configMaps = find(objects(), 'ConfigMap').filter((c) => c.metadata.labels?.grafana_dashboard === '1');
    assert.equal(configMaps.length, 1);
    const [key, text] = Object.entries(configMaps[0].data!)[0];
    assert.match(key, /\.json$/, 'the Grafana sidecar loads *.json keys');
    const dashboard = JSON.parse(text);
    assert.equal(typeof dashboard.title, 'string');
    assert.ok(dashboard.uid.length <= 40, 'a uid Grafana accepts (40 characters at most)');
    assert.equal(dashboard.schemaVersion, 39);
    assert.equal(dashboard.id, undefined, 'no id: Grafana assigns its own when provisioning');
    const variables = dashboard.templating.list;
    const datasource = variables.find((v: any) => v.type === 'datasource');
    assert.deepEqual([datasource?.name, datasource?.query], ['datasource', 'prometheus'], 'a Prometheus data source variable');
    const defined = new Set(variables.map((v: any) => v.name));
    const ids = dashboard.panels.map((p: any) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids unique');
    assert.ok(ids.every((id: unknown) => Number.isInteger(id) && (id as number) > 0));
    const cells = new Set<string>();
    for (const panel of dashboard.panels) {
      assert.ok(['timeseries', 'stat', 'state-timeline'].includes(panel.type), `${panel.title}: a panel type Grafana ships (${panel.type})`);
      assert.deepEqual(panel.datasource, { type: 'prometheus', uid: '${datasource}' }, `${panel.title}: the data source variable`);
      const { x, y, w, h } = panel.gridPos;
      assert.ok(x >= 0 && w > 0 && x + w <= 24 && h > 0 && y >= 0, `${panel.title}: inside the 24-column grid`);
      for (let col = x; col < x + w; col++) for (let row = y; row < y + h; row++) {
        assert.ok(!cells.has(`${col},${row}`), `${panel.title}: overlaps another panel`);
        cells.add(`${col},${row}`);
      }
      assert.ok(panel.targets.length > 0, `${panel.title}: has queries`);
      const refIds = panel.targets.map((t: any) => t.refId);
      assert.equal(new Set(refIds).size, refIds.length, `${panel.title}: refIds unique`);
      for (const target of panel.targets) {
        assert.deepEqual(target.datasource, panel.datasource);
        assert.equal(typeof target.expr, 'string');
        for (const [, name] of target.expr.matchAll(/\$(?!__)(\w+)/g)) assert.ok(defined.has(name), `${panel.title}: $${name} is a dashboard variable`);
        for (const [, name] of target.expr.matchAll(/\$__(\w+)/g)) assert.ok(['rate_interval', 'range', 'interval'].includes(name), `${panel.title}: $__${name} is a Grafana global variable`);
        if (panel.type === 'stat') assert.equal(target.instant, true, `${panel.title}: a stat panel reads one value`);
      }
    }
    const timeline = dashboard.panels.find((p: any) => p.type === 'state-timeline');
    const phases = Object.values(timeline.fieldConfig.defaults.mappings[0].options).map((o: any) => o.text);
    assert.deepEqual(phases, ['serving', 'draining', 'closing', 'drained'], 'the drain timeline names the phases');
  });
});
