/**
 * npm run rollout: an emulated Kubernetes rollout under load, scenario by
 * scenario, with what the clients lost in each.
 *
 * Each scenario: a Service process on 127.0.1.1 (port 8000 for HTTP, 50051 for
 * gRPC; new connections round robin over the ready endpoints, open ones kept),
 * a Deployment of 3 pods on 127.0.1.N rolled ROLLOUTS times with maxSurge 1 /
 * maxUnavailable 0, while keep-alive HTTP clients (some requests take 2 s),
 * WebSocket clients, server-sent event clients and gRPC clients (unary and
 * server-streaming) talk to the Service and reconnect when their streams end.
 * Scenarios:
 *   a  the legacy app alone
 *   b  the app with preStop: sleep N (the usual workaround)
 *   c  nginx as a sidecar (preStop: sleep N, then nginx -s quit), the app with preStop: sleep N
 *   d  drain-proxy as a classic sidecar (both containers' preStop: httpGet /drain?wait=1)
 *   e  drain-proxy as a native sidecar (preStop on the app; proxy SIGTERM after the app exited)
 * Then the reconnect-rate measurement (--spread, on by default): 300 WebSocket
 * clients, 180 gRPC channels (@grpc/grpc-js, lazy pick_first) and 90 raw h2c
 * clients (eager) on 3 pods, one pod replaced, the reconnects reaching the
 * surviving pods timed and those that landed back on the draining pod
 * counted, with CLOSE_SPREAD=5s, without spreading, with every HTTP/2 session
 * told to go at t0 (goaway-front.ts), and the app alone.
 * Exits 1 if a drain-proxy scenario lost anything or the spread misses 1.2x.
 *
 * --service iptables: the Service as kube-proxy's iptables mode makes it (DNAT
 * rules with random probabilities, conntrack keeping open connections), in a
 * network namespace created for the run (root and `ip netns` needed); the
 * default is a userspace load balancer process.
 *
 * Flags: USAGE below (`npm run rollout -- --help`).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { httpGet, waitFor200 } from '../harness/http.ts';
import { type ProxySettings } from '../demo/support/pods.ts';
import { drainProxyBuilt, MAIN } from '../harness/drain-proxy.ts';
import { numberSetting, parseFlags, runMain, scratchDir } from '../harness/cli.ts';
import { start, type Child } from '../harness/processes.ts';
import { GrpcChannels, GrpcClients, type ChannelPlan, type GrpcPlan } from '../demo/support/grpc-clients.ts';
import { H2Clients, type H2ClientPlan } from '../demo/support/h2-clients.ts';
import { StreamClients, type StreamPlan } from '../demo/support/streams.ts';
import { EndpointList, LoadGenerator, type LoadPlan } from '../demo/support/traffic.ts';
import { ensureNginx } from '../harness/nginx.ts';
import { Cluster, type ClusterSettings, type ScenarioSpec } from './cluster.ts';
import { enterFreshNetns, netnsAvailable } from './netns.ts';
import { summaryOf, writeReport, type ScenarioResult, type SpreadResult } from './report.ts';

const SERVICE_SCRIPTS = {
  userspace: fileURLToPath(new URL('./service-lb.ts', import.meta.url)),
  iptables: fileURLToPath(new URL('./service-iptables.ts', import.meta.url)),
} as const;
const SERVICE_HOST = '127.0.1.1';
const SERVICE_PORT = 8000;
const SERVICE_GRPC_PORT = 50051;
const SERVICE_CONTROL_PORT = 9000;
const SERVICE_HTTP = new EndpointList([{ pod: 'service', host: SERVICE_HOST, port: SERVICE_PORT }]);
const SERVICE_GRPC = { pod: 'service', host: SERVICE_HOST, port: SERVICE_GRPC_PORT };
/** Whole run, whatever happens. */
const WATCHDOG_MS = 15 * 60_000;
/** Client plans run at most this long; the scenario stops them when its rollouts are over. */
const CLIENTS_MAX_MS = 10 * 60_000;

const USAGE = 'usage: npm run rollout [-- --service userspace|iptables --rollouts 3 --prestop-sleep 3 --lag 1500 --min-ready 2500 '
  + '--scenarios a,b,c,d,e|none --spreads s1,s2,s3,s4 --no-spread --no-write --summary file.json]';
const args = parseFlags(USAGE, {
  rollouts: { type: 'string' },
  'prestop-sleep': { type: 'string' },
  lag: { type: 'string' },
  'min-ready': { type: 'string' },
  scenarios: { type: 'string', default: 'a,b,c,d,e' },
  spreads: { type: 'string', default: 's1,s2,s3,s4' },
  'no-spread': { type: 'boolean', default: false },
  'no-write': { type: 'boolean', default: false },
  summary: { type: 'string' },
  service: { type: 'string', default: 'userspace' },
});
const SERVICE_KIND = args.service as keyof typeof SERVICE_SCRIPTS;
if (!(SERVICE_KIND in SERVICE_SCRIPTS)) throw new Error(`--service must be userspace or iptables, got ${args.service}`);
const SERVICE_SCRIPT = SERVICE_SCRIPTS[SERVICE_KIND];
const ROLLOUTS = numberSetting('--rollouts', args.rollouts, 3, 1, 10);
const PRESTOP_SLEEP_S = numberSetting('--prestop-sleep', args['prestop-sleep'], 3, 0, 30);
const PROPAGATION_LAG_MS = numberSetting('--lag', args.lag, 1500, 0, 10_000);
/** minReadySeconds: by default long enough for the new pod's endpoint to reach the Service before an old pod goes. */
const MIN_READY_MS = numberSetting('--min-ready', args['min-ready'], PROPAGATION_LAG_MS + 1000, 0, 30_000);

/** DRAIN_DELAY covers the propagation lag with a margin: the endpoint is gone from the Service before the proxy stops listening. */
const DRAIN_DELAY_MS = PROPAGATION_LAG_MS + 1500;
const PROXY_SETTINGS: ProxySettings = {
  DRAIN_DELAY: `${DRAIN_DELAY_MS}ms`,
  DRAIN_TIMEOUT: `${DRAIN_DELAY_MS + 10_000}ms`,
  DRAIN_IDLE_CLOSE: '1s',
  HEALTH_INTERVAL: '250ms',
  CLOSE_SPREAD: '2s',
  WS_CLOSE_TIMEOUT: '2s',
  WS_CLOSE_CODE: '1012',
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
  workDir: scratchDir('drain-proxy-rollout-'),
  goawayFront: { drainDelayMs: DRAIN_DELAY_MS, drainTimeoutMs: DRAIN_DELAY_MS + 10_000 },
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
const GRPC: GrpcPlan = {
  unaryClients: 2,
  unaryPauseMs: 50,
  streamClients: 2,
  streamMessages: 10,
  streamIntervalMs: 200,
  durationMs: CLIENTS_MAX_MS,
  deadlineMs: 10_000,
};
const REPLICAS = 3;
/** The reconnect-rate measurement: this many clients of each kind over the replicas, one pod replaced, spread over this window. */
const SPREAD_CLIENTS = 300;
const SPREAD_WINDOW_MS = 5000;
/** gRPC channels as services keep them: a call every 200 ms (idle in between), reconnecting lazily with the next call. */
const SPREAD_CHANNELS: ChannelPlan = { channels: 180, callEveryMs: 200, staggerMs: 10, durationMs: CLIENTS_MAX_MS, deadlineMs: 10_000 };
/** Raw h2c clients that dial again the moment their session ends, as clients keeping connections warm do. */
const SPREAD_H2_CLIENTS: H2ClientPlan = { clients: 90, requestEveryMs: 200, staggerMs: 20, durationMs: CLIENTS_MAX_MS, requestTimeoutMs: 10_000 };
const WARMUP_MS = 1500;
const TAIL_MS = 1500;

const ALL_SCENARIOS: ScenarioSpec[] = [
  { id: 'a', title: 'app alone', proxy: 'none' },
  { id: 'b', title: `app + preStop sleep ${PRESTOP_SLEEP_S}`, proxy: 'none', preStopSleepMs: PRESTOP_SLEEP_S * 1000 },
  { id: 'c', title: `nginx sidecar, preStop sleep ${PRESTOP_SLEEP_S} + quit`, proxy: 'nginx', preStopSleepMs: PRESTOP_SLEEP_S * 1000 },
  { id: 'd', title: 'drain-proxy, classic sidecar', proxy: 'classic' },
  { id: 'e', title: 'drain-proxy, native sidecar', proxy: 'native' },
];

const podIndex = { value: 2 };

async function runScenario(spec: ScenarioSpec): Promise<ScenarioResult> {
  const started = performance.now();
  const { service, control } = await startService(spec.id);
  const load = new LoadGenerator(SERVICE_HTTP, LOAD);
  const streams = new StreamClients(SERVICE_HTTP, STREAMS, load.clock);
  const grpcClients = new GrpcClients(SERVICE_GRPC, GRPC, load.clock);
  const cluster = new Cluster(spec, CLUSTER, control, load.clock, podIndex);
  let clients: Promise<unknown> | undefined;
  try {
    await startReplicas(cluster);
    clients = Promise.all([load.run(), streams.run(), grpcClients.run()]);
    await sleep(WARMUP_MS);
    for (let round = 1; round <= ROLLOUTS; round++) {
      console.log(`  [${spec.id}] rollout ${round}/${ROLLOUTS} at +${(load.clock() / 1000).toFixed(1)} s`);
      await cluster.rollout(round);
    }
    await cluster.settled();
    await sleep(TAIL_MS);
  } finally {
    for (const group of [load, streams, grpcClients]) group.stop();
    await clients;
  }
  const endedAt = load.clock();
  const serviceStats = await stopScenario(cluster, service, control);
  return {
    spec,
    outcomes: load.outcomes,
    webSockets: streams.webSocketSessions,
    eventStreams: streams.eventStreamSessions,
    grpcCalls: grpcClients.calls,
    events: cluster.events,
    terminations: cluster.terminations,
    errors: cluster.errors,
    serviceStats,
    durationMs: endedAt,
    wallMs: performance.now() - started,
  };
}

async function startService(id: string): Promise<{ service: Child; control: string }> {
  const service = start(process.execPath, [SERVICE_SCRIPT], {
    name: `service (${id})`,
    env: { LISTEN_HOST: SERVICE_HOST, LISTEN_PORTS: `${SERVICE_PORT},${SERVICE_GRPC_PORT}`, CONTROL_PORT: String(SERVICE_CONTROL_PORT) },
  });
  const control = `http://${SERVICE_HOST}:${SERVICE_CONTROL_PORT}`;
  await waitFor200(`${control}/endpoints`, service, 10_000);
  return { service, control };
}

async function startReplicas(cluster: Cluster): Promise<void> {
  const first = await Promise.all(Array.from({ length: REPLICAS }, () => cluster.createPod()));
  await Promise.all(first.map((name) => cluster.waitReady(name)));
  await cluster.settled();
}

/** Stops the scenario's pods and Service; resolves with the Service's counters. */
async function stopScenario(cluster: Cluster, service: Child, control: string): Promise<ScenarioResult['serviceStats']> {
  const serviceStats = await httpGet(`${control}/stats`, 2000).then((answer) => JSON.parse(answer.body) as ScenarioResult['serviceStats']).catch(() => undefined);
  await cluster.stopAll();
  await service.stop(5000);
  return serviceStats;
}

/** Which clients a reconnect-rate setup runs: the t0-GOAWAY front carries HTTP/2 only. */
type SpreadSpec = ScenarioSpec & { readonly webSockets: boolean; readonly checked?: boolean };

const SPREAD_SCENARIOS: SpreadSpec[] = [
  { id: 's1', title: `drain-proxy native, CLOSE_SPREAD=${SPREAD_WINDOW_MS / 1000}s`, proxy: 'native', proxySettings: { CLOSE_SPREAD: `${SPREAD_WINDOW_MS}ms` }, webSockets: true, checked: true },
  { id: 's2', title: 'drain-proxy native, CLOSE_SPREAD=0 (no spreading)', proxy: 'native', proxySettings: { CLOSE_SPREAD: '0s' }, webSockets: true },
  { id: 's3', title: 'app alone', proxy: 'none', webSockets: true },
  { id: 's4', title: 'HTTP/2 front sending GOAWAY at t0, listening through DRAIN_DELAY', proxy: 'goaway-t0', webSockets: false },
];

/**
 * WebSockets, gRPC channels and raw h2c clients through the Service on the
 * replicas, then one pod replaced (a new one ready, the oldest deleted): when
 * do its clients' reconnects reach the surviving pods, and how many land back
 * on the pod going away?
 */
async function runSpread(spec: SpreadSpec): Promise<SpreadResult> {
  const { service, control } = await startService(spec.id);
  const clock = ((startedAt) => () => performance.now() - startedAt)(performance.now());
  const webSocketClients = spec.webSockets ? SPREAD_CLIENTS : 0;
  const plan: StreamPlan = { ...STREAMS, webSocketClients, eventStreamClients: 0, pingEveryMs: 5000 };
  const streams = new StreamClients(SERVICE_HTTP, plan, clock);
  const channels = new GrpcChannels(SERVICE_GRPC, SPREAD_CHANNELS, clock);
  const h2Clients = new H2Clients(SERVICE_GRPC, SPREAD_H2_CLIENTS, clock);
  const cluster = new Cluster(spec, CLUSTER, control, clock, podIndex);
  let clients: Promise<unknown> | undefined;
  let deletedAt = 0;
  let deletedPod = '';
  try {
    await startReplicas(cluster);
    [deletedPod] = cluster.podNames;
    clients = Promise.all([streams.run(), channels.run(), h2Clients.run()]);
    // Every client connected (they start a little apart), then the replacement.
    const startup = Math.max(webSocketClients * 25, SPREAD_CHANNELS.channels * SPREAD_CHANNELS.staggerMs, SPREAD_H2_CLIENTS.clients * SPREAD_H2_CLIENTS.staggerMs);
    await sleep(startup + 1000);
    const fresh = await cluster.createPod();
    await cluster.waitReady(fresh);
    await sleep(CLUSTER.minReadyMs);
    deletedAt = clock();
    await cluster.deletePod(deletedPod);
    await sleep(TAIL_MS);
  } finally {
    for (const group of [streams, channels, h2Clients]) group.stop();
    await clients;
  }
  await stopScenario(cluster, service, control);
  return {
    spec,
    webSockets: streams.webSocketSessions,
    grpcConnections: channels.connections,
    grpcCalls: channels.calls,
    grpcFailures: channels.failures.length,
    h2Connections: h2Clients.connections,
    h2Requests: h2Clients.requests,
    h2Failures: h2Clients.failures.length,
    h2RefusedAndRetried: h2Clients.refusedAndRetried,
    deletedAt,
    deletedPod,
    windowMs: SPREAD_WINDOW_MS,
    clients: { webSockets: webSocketClients, grpcChannels: SPREAD_CHANNELS.channels, h2Clients: SPREAD_H2_CLIENTS.clients },
    replicas: REPLICAS,
    terminations: cluster.terminations,
    checked: spec.checked === true,
  };
}

async function main(): Promise<number> {
  if (!drainProxyBuilt()) {
    console.error(`${MAIN} is missing: run \`npm run build\` first (npm run rollout does).`);
    return 1;
  }
  const wanted = (args.scenarios ?? '').split(',').map((id) => id.trim());
  const scenarios = ALL_SCENARIOS.filter((spec) => wanted.includes(spec.id));
  if (scenarios.length === 0 && args.scenarios !== 'none') throw new Error(`--scenarios: none of ${args.scenarios} is one of a,b,c,d,e (or none)`);
  const wantedSpreads = (args.spreads ?? '').split(',').map((id) => id.trim());
  const spreadScenarios = args['no-spread'] ? [] : SPREAD_SCENARIOS.filter((spec) => wantedSpreads.includes(spec.id));
  if (!args['no-spread'] && spreadScenarios.length === 0) throw new Error(`--spreads: none of ${args.spreads} is one of s1,s2,s3,s4`);
  const settings = {
    rollouts: ROLLOUTS,
    replicas: REPLICAS,
    service: SERVICE_KIND,
    propagationLagMs: PROPAGATION_LAG_MS,
    minReadyMs: MIN_READY_MS,
    preStopSleepS: PRESTOP_SLEEP_S,
    cluster: CLUSTER,
    load: LOAD,
    streams: STREAMS,
    grpc: GRPC,
    spread: { webSockets: SPREAD_CLIENTS, windowMs: SPREAD_WINDOW_MS, grpcChannels: SPREAD_CHANNELS, h2Clients: SPREAD_H2_CLIENTS },
  };
  console.log(
    `rollout: ${REPLICAS} replicas rolled ${ROLLOUTS} times (maxSurge 1, maxUnavailable 0) per scenario; ` +
      `Service ${SERVICE_HOST}:${SERVICE_PORT}; endpoint changes reach it ${PROPAGATION_LAG_MS} ms late; minReady ${MIN_READY_MS} ms; ` +
      `readiness probe every ${CLUSTER.probePeriodMs} ms, failureThreshold ${CLUSTER.probeFailureThreshold}; ` +
      `drain-proxy DRAIN_DELAY=${PROXY_SETTINGS.DRAIN_DELAY} CLOSE_SPREAD=${PROXY_SETTINGS.CLOSE_SPREAD}`,
  );
  const results: ScenarioResult[] = [];
  for (const spec of scenarios) {
    console.log(`scenario ${spec.id}: ${spec.title}`);
    results.push(await runScenario(spec));
  }
  const spreads: SpreadResult[] = [];
  for (const spec of spreadScenarios) {
    console.log(`reconnect rate ${spec.id}: ${spec.title}`);
    spreads.push(await runSpread(spec));
  }
  if (args.summary !== undefined) writeFileSync(args.summary, `${JSON.stringify(summaryOf(results, spreads), null, 2)}\n`);
  return writeReport(results, spreads, settings, !args['no-write']);
}

// Packages come from the network, which a fresh namespace does not have: before entering one.
if ((args.scenarios ?? '').includes('c')) ensureNginx();
if (SERVICE_KIND === 'iptables') {
  if (!netnsAvailable()) throw new Error('--service iptables needs root and `ip netns`');
  await enterFreshNetns();
}

runMain('rollout', main, WATCHDOG_MS);
