/**
 * npm run rollout: an emulated Kubernetes rollout under load, scenario by
 * scenario, with what the clients lost in each (issue 6, first increment).
 *
 * Each scenario: a Service process on 127.0.1.1:8000 (new connections round
 * robin over the ready endpoints, open ones kept), a Deployment of 3 pods on
 * 127.0.1.N rolled ROLLOUTS times with maxSurge 1 / maxUnavailable 0, while
 * keep-alive HTTP clients (some requests take 2 s), WebSocket clients and
 * server-sent event clients talk to the Service and reconnect when their
 * streams end. Scenarios:
 *   a  the legacy app alone
 *   b  the app with preStop: sleep N (the usual workaround)
 *   d  drain-proxy as a classic sidecar (both containers' preStop: httpGet /drain?wait=1)
 *   e  drain-proxy as a native sidecar (preStop on the app; proxy SIGTERM after the app exited)
 * Exits 1 if a drain-proxy scenario lost anything.
 *
 *   npm run rollout [-- --rollouts 3 --prestop-sleep 3 --lag 1500 --min-ready 2500 --scenarios a,b,d,e --no-write]
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { waitFor200, httpGet } from '../demo/support/http-get.ts';
import { PROXY_SCRIPT, type ProxySettings } from '../demo/support/pods.ts';
import { ProcessGroup } from '../demo/support/processes.ts';
import { StreamClients, type StreamPlan } from '../demo/support/streams.ts';
import { EndpointList, LoadGenerator, type LoadPlan } from '../demo/support/traffic.ts';
import { Cluster, type ClusterSettings, type ScenarioSpec } from './cluster.ts';
import { writeReport, type ScenarioResult } from './report.ts';

const SERVICE_SCRIPT = fileURLToPath(new URL('./service-lb.ts', import.meta.url));
const SERVICE_HOST = '127.0.1.1';
const SERVICE_PORT = 8000;
const SERVICE_CONTROL_PORT = 9000;
/** Whole run, whatever happens. */
const WATCHDOG_MS = 15 * 60_000;
/** Client plans run at most this long; the scenario stops them when its rollouts are over. */
const CLIENTS_MAX_MS = 10 * 60_000;

const { values: args } = parseArgs({
  options: {
    rollouts: { type: 'string', default: '3' },
    'prestop-sleep': { type: 'string', default: '3' },
    lag: { type: 'string', default: '1500' },
    'min-ready': { type: 'string' },
    scenarios: { type: 'string', default: 'a,b,d,e' },
    'no-write': { type: 'boolean', default: false },
  },
});
const ROLLOUTS = boundedInt(args.rollouts, 'rollouts', 1, 10);
const PRESTOP_SLEEP_S = boundedInt(args['prestop-sleep'], 'prestop-sleep', 0, 30);
const PROPAGATION_LAG_MS = boundedInt(args.lag, 'lag', 0, 10_000);
/** minReadySeconds: by default long enough for the new pod's endpoint to reach the Service before an old pod goes. */
const MIN_READY_MS = boundedInt(args['min-ready'] ?? String(PROPAGATION_LAG_MS + 1000), 'min-ready', 0, 30_000);

function boundedInt(text: string | undefined, name: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`--${name} must be an integer in ${min}..${max}, got ${text}`);
  return value;
}

/** DRAIN_DELAY covers the propagation lag with a margin: the endpoint is gone from the Service before the proxy stops listening. */
const DRAIN_DELAY_MS = PROPAGATION_LAG_MS + 1500;
const PROXY_SETTINGS: ProxySettings = {
  drainDelay: `${DRAIN_DELAY_MS}ms`,
  drainTimeout: `${DRAIN_DELAY_MS + 10_000}ms`,
  drainIdleClose: '1s',
  healthInterval: '250ms',
  wsCloseSpread: '2s',
  wsCloseTimeout: '2s',
  wsCloseCode: '1012',
};
const CLUSTER: ClusterSettings = {
  proxySettings: PROXY_SETTINGS,
  probePeriodMs: 1000,
  probeFailureThreshold: 3,
  probeTimeoutMs: 1000,
  propagationLagMs: PROPAGATION_LAG_MS,
  minReadyMs: MIN_READY_MS,
  gracePeriodMs: DRAIN_DELAY_MS + 15_000,
  podReadyTimeoutMs: 20_000,
};
const LOAD: LoadPlan = {
  quickClients: 4,
  quickPauseMs: 50,
  slowEveryMs: 500,
  slowMs: 2000,
  durationMs: CLIENTS_MAX_MS,
  requestTimeoutMs: 10_000,
};
const STREAMS: StreamPlan = {
  webSocketClients: 6,
  eventStreamClients: 3,
  durationMs: CLIENTS_MAX_MS,
  reconnectDelayMs: 100,
  pingEveryMs: 500,
  connectTimeoutMs: 5000,
};
const REPLICAS = 3;
const WARMUP_MS = 1500;
const TAIL_MS = 1500;

const ALL_SCENARIOS: ScenarioSpec[] = [
  { id: 'a', title: 'app alone', proxy: 'none' },
  { id: 'b', title: `app + preStop sleep ${PRESTOP_SLEEP_S}`, proxy: 'none', preStopSleepMs: PRESTOP_SLEEP_S * 1000 },
  { id: 'd', title: 'drain-proxy, classic sidecar', proxy: 'classic' },
  { id: 'e', title: 'drain-proxy, native sidecar', proxy: 'native' },
];

const group = new ProcessGroup();
const podIndex = { value: 2 };

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function runScenario(spec: ScenarioSpec): Promise<ScenarioResult> {
  const started = performance.now();
  const service = group.start(`service (${spec.id})`, [SERVICE_SCRIPT], {
    LISTEN_HOST: SERVICE_HOST,
    LISTEN_PORT: String(SERVICE_PORT),
    CONTROL_PORT: String(SERVICE_CONTROL_PORT),
  });
  const control = `http://${SERVICE_HOST}:${SERVICE_CONTROL_PORT}`;
  await waitFor200(`${control}/endpoints`, 10_000, () => (service.exitStatus === undefined ? undefined : service.outputTail.join('\n')));

  const serviceEndpoint = new EndpointList([{ pod: 'service', host: SERVICE_HOST, port: SERVICE_PORT }]);
  const load = new LoadGenerator(serviceEndpoint, LOAD);
  const streams = new StreamClients(serviceEndpoint, STREAMS, load.clock);
  const cluster = new Cluster(group, spec, CLUSTER, control, load.clock, podIndex);
  let clients: Promise<unknown> | undefined;
  try {
    const first = await Promise.all(Array.from({ length: REPLICAS }, () => cluster.createPod()));
    await Promise.all(first.map((name) => cluster.waitReady(name)));
    await cluster.settled();
    clients = Promise.all([load.run(), streams.run()]);
    await sleep(WARMUP_MS);
    for (let round = 1; round <= ROLLOUTS; round++) {
      console.log(`  [${spec.id}] rollout ${round}/${ROLLOUTS} at +${(load.clock() / 1000).toFixed(1)} s`);
      await cluster.rollout(round);
    }
    await cluster.settled();
    await sleep(TAIL_MS);
  } finally {
    load.stop();
    streams.stop();
    await clients;
  }
  const endedAt = load.clock();
  let serviceStats: ScenarioResult['serviceStats'];
  try {
    serviceStats = JSON.parse((await httpGet(`${control}/stats`, 2000)).body) as ScenarioResult['serviceStats'];
  } catch {
    serviceStats = undefined;
  }
  await cluster.stopAll();
  group.signal(service, 'SIGTERM');
  await group.waitForExit(service, 5000);
  return {
    spec,
    outcomes: load.outcomes,
    webSockets: streams.webSocketSessions,
    eventStreams: streams.eventStreamSessions,
    events: cluster.events,
    terminations: cluster.terminations,
    errors: cluster.errors,
    serviceStats,
    durationMs: endedAt,
    wallMs: performance.now() - started,
  };
}

async function main(): Promise<number> {
  if (!existsSync(PROXY_SCRIPT)) {
    console.error(`${PROXY_SCRIPT} is missing: run \`npm run build\` first (npm run rollout does).`);
    return 1;
  }
  const wanted = (args.scenarios ?? '').split(',').map((id) => id.trim());
  const scenarios = ALL_SCENARIOS.filter((spec) => wanted.includes(spec.id));
  if (scenarios.length === 0) throw new Error(`--scenarios: none of ${args.scenarios} is one of a,b,d,e`);
  const settings = {
    rollouts: ROLLOUTS,
    replicas: REPLICAS,
    propagationLagMs: PROPAGATION_LAG_MS,
    minReadyMs: MIN_READY_MS,
    preStopSleepS: PRESTOP_SLEEP_S,
    cluster: CLUSTER,
    load: LOAD,
    streams: STREAMS,
  };
  console.log(
    `rollout: ${REPLICAS} replicas rolled ${ROLLOUTS} times (maxSurge 1, maxUnavailable 0) per scenario; ` +
      `Service ${SERVICE_HOST}:${SERVICE_PORT}; endpoint changes reach it ${PROPAGATION_LAG_MS} ms late; minReady ${MIN_READY_MS} ms; ` +
      `readiness probe every ${CLUSTER.probePeriodMs} ms, failureThreshold ${CLUSTER.probeFailureThreshold}; ` +
      `drain-proxy DRAIN_DELAY=${PROXY_SETTINGS.drainDelay} WS_CLOSE_SPREAD=${PROXY_SETTINGS.wsCloseSpread}`,
  );
  const results: ScenarioResult[] = [];
  for (const spec of scenarios) {
    console.log(`scenario ${spec.id}: ${spec.title}`);
    results.push(await runScenario(spec));
  }
  return writeReport(results, settings, !args['no-write']);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping the rollout's processes`);
    group.killAll('SIGKILL');
    process.exit(130);
  });
}
setTimeout(() => {
  console.error(`rollout took longer than ${WATCHDOG_MS / 1000} s: giving up`);
  group.killAll('SIGKILL');
  process.exit(1);
}, WATCHDOG_MS).unref();

let exitCode = 1;
try {
  exitCode = await main();
} catch (err) {
  console.error(`rollout failed: ${(err as Error).stack ?? String(err)}`);
} finally {
  await group.stopAll('SIGTERM', 5000);
}
process.exit(exitCode);
