/**
 * drain-proxy demo: a Service with two pods, clients sending keep-alive
 * traffic, and pod A terminated the way the kubelet does it. Run twice:
 * once with clients talking to the legacy app directly, once through
 * drain-proxy. Exits non-zero if the drain-proxy run lost any request, so the
 * demo doubles as an end-to-end check.
 *
 *   npm run demo
 */
import { existsSync } from 'node:fs';
import { httpGet, type HttpAnswer } from './support/http-get.ts';
import { choosePodAddresses, PROXY_SCRIPT, startPod, type Pod, type PodAddress, type ProxySettings } from './support/pods.ts';
import { describeExit, ProcessGroup, type ExitStatus } from './support/processes.ts';
import { EndpointList, FAILURE_KINDS, LoadGenerator, type LoadPlan, type Outcome } from './support/traffic.ts';

const PROXY_SETTINGS: ProxySettings = {
  drainDelay: '2s',
  drainTimeout: '10s',
  drainIdleClose: '1s',
  healthInterval: '250ms',
};
const LOAD: LoadPlan = {
  quickClients: 6,
  quickPauseMs: 20,
  slowEveryMs: 250,
  slowMs: 2000,
  durationMs: 6500,
  requestTimeoutMs: 8000,
};
const TERMINATE_AT_MS = 1500;
/** How long after the deletion the clients stop choosing the pod (EndpointSlice -> kube-proxy). */
const PROPAGATION_LAG_MS = 1000;
/** terminationGracePeriodSeconds of the emulated pods: past it, SIGKILL. */
const GRACE_PERIOD_MS = 15_000;
/** Nothing in the demo may take longer than this in total. */
const DEMO_WATCHDOG_MS = 120_000;

type RunKind = 'baseline' | 'drain-proxy';

interface TimelineEvent {
  readonly atMs: number;
  readonly text: string;
}

interface DrainSummary {
  readonly trigger?: string;
  readonly durationMs?: number;
  readonly requestsCompleted?: number;
  readonly closed?: Record<string, number>;
  readonly cut?: number;
  readonly exitCode?: number;
}

interface Termination {
  /** On the load generator's clock. */
  readonly startedAt: number;
  readonly timeline: TimelineEvent[];
  readonly preStop: HttpAnswer | Error | undefined;
  readonly appExit: ExitStatus;
  readonly proxyExit: ExitStatus | undefined;
  /** The proxy's own "drain finished" log line. */
  readonly drainFinishedLog: DrainSummary | undefined;
}

interface RunResult {
  readonly kind: RunKind;
  readonly outcomes: Outcome[];
  readonly termination: Termination;
  readonly forwardedFor: string | undefined;
}

const group = new ProcessGroup();

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Readiness as the kubelet's probe would see it: polled until it fails, so the
 * timeline shows when the pod would have gone NotReady.
 */
async function watchReadiness(pod: Pod, record: (text: string) => void, stopped: () => boolean): Promise<void> {
  const url = `http://${pod.address.ip}:${pod.address.adminPort}/readyz`;
  const deadline = performance.now() + GRACE_PERIOD_MS;
  while (!stopped() && performance.now() < deadline) {
    try {
      const answer = await httpGet(url, 1000);
      if (answer.status !== 200) {
        record(`readiness probe: GET /readyz answers ${answer.status} (pod NotReady)`);
        return;
      }
    } catch (err) {
      record(`readiness probe: GET /readyz failed (${(err as Error).message})`);
      return;
    }
    await sleep(100);
  }
}

/** drain-proxy's own log lines worth a place on the timeline, by `msg`. */
const PROXY_LOG_EVENTS: Record<string, (line: Record<string, unknown>) => string> = {
  'drain phase draining': () => 'drain-proxy: drain started: /readyz fails, responses get Connection: close, still accepting',
  'drain phase closing': () => 'drain-proxy: DRAIN_DELAY over: stopped listening, waiting for in-flight requests',
  'drain phase drained': () => 'drain-proxy: nothing left in flight: drain complete',
  'signal received': (line) => `drain-proxy: ${String(line.signal)} received (phase ${String(line.phase)})`,
};

/**
 * What the kubelet and the endpoints controller do when a pod is deleted,
 * started at the same moment and not waiting for each other: the endpoint
 * removal reaches the clients only after PROPAGATION_LAG_MS, while the kubelet
 * runs the preStop hook (when there is a drain-proxy) and then sends SIGTERM
 * to the containers.
 */
async function terminatePod(pod: Pod, endpoints: EndpointList, clock: () => number): Promise<Termination> {
  const startedAt = clock();
  const t0 = performance.now();
  const t0Wall = Date.now();
  const timeline: TimelineEvent[] = [];
  const record = (text: string): void => {
    timeline.push({ atMs: performance.now() - t0, text });
  };
  const name = pod.address.name;
  record(`kubectl delete pod ${name}: endpoints controller marks it terminating; kubelet starts`);
  void pod.app.exited.then((status) => record(`${name} app ${describeExit(status)}`));
  void pod.proxy?.exited.then((status) => record(`${name} drain-proxy ${describeExit(status)}`));

  const endpointRemoval = sleep(PROPAGATION_LAG_MS).then(() => {
    endpoints.remove(name);
    record(`endpoint removal reached the clients: ${name} no longer chosen`);
  });

  let preStop: HttpAnswer | Error | undefined;
  let readinessWatch: Promise<void> = Promise.resolve();
  let terminated = false;
  if (pod.proxy !== undefined) {
    readinessWatch = watchReadiness(pod, record, () => terminated);
    const drainUrl = `http://${pod.address.ip}:${pod.address.adminPort}/drain?wait=1`;
    record(`kubelet: preStop httpGet ${drainUrl.replace(/^http:\/\/[^/]+/, '')} (admin port ${pod.address.adminPort})`);
    try {
      preStop = await httpGet(drainUrl, GRACE_PERIOD_MS);
      record(`kubelet: preStop returned ${preStop.status}`);
    } catch (err) {
      preStop = err as Error;
      record(`kubelet: preStop failed: ${preStop.message}`);
    }
  } else {
    record('kubelet: no preStop hook (the legacy app has none)');
  }

  record(pod.proxy === undefined ? 'kubelet: SIGTERM to the app' : 'kubelet: SIGTERM to the app and to drain-proxy');
  group.signal(pod.app, 'SIGTERM');
  if (pod.proxy !== undefined) group.signal(pod.proxy, 'SIGTERM');
  const remainingGraceMs = Math.max(0, GRACE_PERIOD_MS - (performance.now() - t0));
  const [appExit, proxyExit] = await Promise.all([
    group.waitForExit(pod.app, remainingGraceMs),
    pod.proxy === undefined ? undefined : group.waitForExit(pod.proxy, remainingGraceMs),
  ]);
  terminated = true;
  await Promise.all([endpointRemoval, readinessWatch]);
  for (const line of pod.proxy?.jsonLines ?? []) {
    const describe = PROXY_LOG_EVENTS[String(line.msg)];
    const loggedAt = typeof line.time === 'string' ? Date.parse(line.time) : Number.NaN;
    if (describe !== undefined && loggedAt >= t0Wall) timeline.push({ atMs: loggedAt - t0Wall, text: describe(line) });
  }
  timeline.sort((a, b) => a.atMs - b.atMs);

  const drainFinishedLog = pod.proxy?.jsonLines.find((line) => line.msg === 'drain finished') as DrainSummary | undefined;
  return { startedAt, timeline, preStop, appExit, proxyExit, drainFinishedLog };
}

async function runScenario(kind: RunKind, addresses: PodAddress[]): Promise<RunResult> {
  const proxySettings = kind === 'drain-proxy' ? PROXY_SETTINGS : undefined;
  const pods = await Promise.all(addresses.map((address) => startPod(group, address, proxySettings)));
  const [podA, ...otherPods] = pods;
  const endpoints = new EndpointList(pods.map((pod) => pod.endpoint));

  let forwardedFor: string | undefined;
  if (kind === 'drain-proxy') {
    const seen = await httpGet(`http://${podA.endpoint.host}:${podA.endpoint.port}/headers`, 2000);
    forwardedFor = (JSON.parse(seen.body) as { headers: Record<string, string> }).headers['x-forwarded-for'];
  }

  const load = new LoadGenerator(endpoints, LOAD);
  const loadFinished = load.run();
  await sleep(TERMINATE_AT_MS);
  const termination = await terminatePod(podA, endpoints, load.clock);
  await loadFinished;

  // The other pods are stopped only to end the run; their shutdown is not part of the story.
  await Promise.all(
    otherPods.flatMap((pod) => [pod.app, pod.proxy].filter((running) => running !== undefined)).map((running) => {
      group.signal(running, 'SIGTERM');
      return group.waitForExit(running, GRACE_PERIOD_MS);
    }),
  );
  return { kind, outcomes: load.outcomes, termination, forwardedFor };
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

function drainSummaryOf(termination: Termination): DrainSummary | undefined {
  if (termination.preStop instanceof Error || termination.preStop === undefined) return termination.drainFinishedLog;
  try {
    return JSON.parse(termination.preStop.body) as DrainSummary;
  } catch {
    return termination.drainFinishedLog;
  }
}

/** Prints the run's report; returns the reasons the run fails the check (drain-proxy runs only). */
function report(result: RunResult, podAName: string): string[] {
  const { outcomes, termination } = result;
  const failed = outcomes.filter((outcome) => outcome.kind !== 'ok');
  const byKind = countBy(failed, (outcome) => outcome.kind);
  const slow = outcomes.filter((outcome) => outcome.path.startsWith('/slow'));
  const t0 = termination.startedAt;
  const toPodAAfterT0 = outcomes.filter((outcome) => outcome.pod === podAName && outcome.startedAt >= t0);
  const slowInFlightAtT0 = slow.filter(
    (outcome) => outcome.pod === podAName && outcome.startedAt < t0 && outcome.endedAt > t0,
  );

  if (result.forwardedFor !== undefined) {
    console.log(`  through drain-proxy the app sees X-Forwarded-For: ${result.forwardedFor}`);
  }
  console.log('  timeline (from the pod deletion):');
  for (const event of termination.timeline) console.log(`    +${seconds(event.atMs).padStart(7)}  ${event.text}`);
  console.log(
    `  requests: ${outcomes.length} sent, ${outcomes.length - failed.length} succeeded, ${failed.length} failed ` +
      `(${FAILURE_KINDS.map((kind) => `${kind} ${byKind.get(kind) ?? 0}`).join(', ')})`,
  );
  console.log(
    `    slow (2 s) requests: ${slow.length} sent, ${slow.filter((outcome) => outcome.kind === 'ok').length} succeeded; ` +
      `${slowInFlightAtT0.length} were in flight on ${podAName} when it was deleted, ` +
      `${slowInFlightAtT0.filter((outcome) => outcome.kind === 'ok').length} of them succeeded`,
  );
  console.log(
    `    sent to ${podAName} after its deletion: ${toPodAAfterT0.length}, ` +
      `${toPodAAfterT0.filter((outcome) => outcome.kind === 'ok').length} succeeded, ` +
      `${toPodAAfterT0.filter((outcome) => outcome.connectionClose).length} answered with Connection: close`,
  );
  if (failed.length > 0) {
    const details = [...countBy(failed, (outcome) => `${outcome.kind} (${outcome.path.replace(/\?.*/, '')}: ${outcome.detail})`)]
      .map(([detail, count]) => `${detail} x${count}`)
      .join(', ');
    console.log(`    failures: ${details}`);
  }

  const exits = `${podAName} app ${describeExit(termination.appExit)}` +
    (termination.proxyExit === undefined ? '' : `, ${podAName} drain-proxy ${describeExit(termination.proxyExit)}`);
  console.log(`  exits: ${exits}`);
  if (result.kind === 'baseline') return [];

  const problems: string[] = [];
  const summary = drainSummaryOf(termination);
  if (termination.preStop instanceof Error || termination.preStop === undefined) {
    problems.push(`preStop GET /drain?wait=1 failed: ${termination.preStop?.message ?? 'not sent'}`);
  } else if (termination.preStop.status !== 200) {
    problems.push(`preStop GET /drain?wait=1 answered ${termination.preStop.status}: ${termination.preStop.body.trim()}`);
  }
  if (summary === undefined) {
    problems.push('no drain summary (neither from /drain?wait=1 nor a "drain finished" log line)');
  } else {
    const closed = Object.entries(summary.closed ?? {})
      .filter(([, count]) => count > 0)
      .map(([reason, count]) => `${reason} ${count}`)
      .join(', ') || 'none';
    console.log(
      `  drain (drain-proxy's summary): ${summary.durationMs === undefined ? '?' : seconds(summary.durationMs)}, ` +
        `trigger ${summary.trigger}, ${summary.requestsCompleted} requests completed during the drain, ` +
        `connections closed by reason: ${closed}; cut at the deadline: ${summary.cut}`,
    );
    if ((summary.cut ?? 0) > 0) problems.push(`${summary.cut} connections cut at the drain deadline`);
  }
  const log = termination.drainFinishedLog;
  console.log(
    log === undefined
      ? '  drain-proxy logged no "drain finished" line'
      : `  drain-proxy's "drain finished" log line: exitCode ${log.exitCode}, durationMs ${log.durationMs}`,
  );
  if (log === undefined) problems.push('drain-proxy logged no "drain finished" line');
  if (termination.proxyExit?.code !== 0) problems.push(`drain-proxy ${describeExit(termination.proxyExit)} (expected exit code 0)`);
  if (failed.length > 0) problems.push(`${failed.length} requests failed`);
  if (toPodAAfterT0.length === 0 || slowInFlightAtT0.length === 0) {
    problems.push(`the run did not exercise the drain (${toPodAAfterT0.length} requests after the deletion, ` +
      `${slowInFlightAtT0.length} slow ones in flight at it)`);
  }
  return problems;
}

async function main(): Promise<number> {
  if (!existsSync(PROXY_SCRIPT)) {
    console.error(`${PROXY_SCRIPT} is missing: run \`npm run build\` first (npm run demo does).`);
    return 1;
  }
  const { pods: addresses, layout } = await choosePodAddresses(['pod-a', 'pod-b']);
  const [podA] = addresses;

  console.log('drain-proxy demo: a Service with two pods; pod-a is deleted while clients keep sending requests');
  console.log(`  pods (${layout}):`);
  for (const pod of addresses) {
    console.log(`    ${pod.name}: ${pod.ip}  app :${pod.appPort}, drain-proxy :${pod.proxyPort}, admin :${pod.adminPort}`);
  }
  console.log(
    `  load: ${LOAD.quickClients} keep-alive clients sending GET / back to back (${LOAD.quickPauseMs} ms apart), ` +
      `plus GET /slow?ms=${LOAD.slowMs} every ${LOAD.slowEveryMs} ms, round robin over the ready endpoints, for ${seconds(LOAD.durationMs)}`,
  );
  console.log(
    `  pod-a is deleted at ${seconds(TERMINATE_AT_MS)}; the clients learn of it ${seconds(PROPAGATION_LAG_MS)} later; ` +
      `drain-proxy runs with DRAIN_DELAY=${PROXY_SETTINGS.drainDelay} DRAIN_TIMEOUT=${PROXY_SETTINGS.drainTimeout} ` +
      `DRAIN_IDLE_CLOSE=${PROXY_SETTINGS.drainIdleClose}`,
  );

  console.log('\nRun 1, baseline: clients -> legacy app (no drain-proxy)');
  const baseline = await runScenario('baseline', addresses);
  report(baseline, podA.name);

  console.log('\nRun 2, with drain-proxy: clients -> drain-proxy -> legacy app');
  const proxied = await runScenario('drain-proxy', addresses);
  const problems = report(proxied, podA.name);

  const baselineFailed = baseline.outcomes.filter((outcome) => outcome.kind !== 'ok').length;
  const proxiedFailed = proxied.outcomes.filter((outcome) => outcome.kind !== 'ok').length;
  console.log(`\nResult: ${baselineFailed} failed requests without drain-proxy, ${proxiedFailed} with drain-proxy.`);
  if (baselineFailed === 0) console.log('  (the baseline lost nothing this time: the comparison shows less than usual)');
  if (problems.length === 0) {
    console.log('CHECK PASSED: the drain-proxy run lost no request and drain-proxy exited 0.');
    return 0;
  }
  console.log('CHECK FAILED:');
  for (const problem of problems) console.log(`  - ${problem}`);
  return 1;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping the demo's processes`);
    group.killAll('SIGKILL');
    process.exit(130);
  });
}
setTimeout(() => {
  console.error(`demo took longer than ${seconds(DEMO_WATCHDOG_MS)}: giving up`);
  group.killAll('SIGKILL');
  process.exit(1);
}, DEMO_WATCHDOG_MS).unref();

let exitCode = 1;
try {
  exitCode = await main();
} catch (err) {
  console.error(`demo failed: ${(err as Error).stack ?? String(err)}`);
} finally {
  await group.stopAll('SIGTERM', 5000);
}
process.exit(exitCode);
