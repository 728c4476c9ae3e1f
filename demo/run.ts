/**
 * drain-proxy demo: a Service with two pods, clients sending keep-alive
 * traffic and holding WebSocket and server-sent event streams, and pod A
 * terminated the way the kubelet does it. Run twice: once with clients talking
 * to the legacy app directly, once through drain-proxy. Exits non-zero if the
 * drain-proxy run lost any request, saw any WebSocket close other than the
 * proxy's 1012 (1006 above all) or any event stream cut mid-event, so the demo
 * doubles as an end-to-end check.
 *
 *   npm run demo
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { drainProxyBuilt, MAIN } from '../harness/drain-proxy.ts';
import { httpGet, type HttpAnswer } from '../harness/http.ts';
import { metricValue, scrape } from '../harness/metrics.ts';
import { countBy, tally } from '../harness/tables.ts';
import { choosePodAddresses, startPod, type Pod, type PodAddress, type ProxySettings } from './support/pods.ts';
import { runMain } from '../harness/cli.ts';
import { describeExit, type ExitStatus } from '../harness/processes.ts';
import { StreamClients, type EventStreamSession, type StreamPlan, type WebSocketSession } from './support/streams.ts';
import { EndpointList, FAILURE_KINDS, LoadGenerator, type LoadPlan, type Outcome } from './support/traffic.ts';

const DRAIN_DELAY_MS = 2000;
/** Shorter than the 5 s default so the demo stays short; DRAIN_TIMEOUT covers DRAIN_DELAY + spread + close timeout. */
const CLOSE_SPREAD_MS = 1000;
const WS_CLOSE_TIMEOUT_MS = 2000;
const WS_CLOSE_CODE = 1012;
const PROXY_SETTINGS: ProxySettings = {
  DRAIN_DELAY: `${DRAIN_DELAY_MS / 1000}s`,
  DRAIN_TIMEOUT: '10s',
  DRAIN_IDLE_CLOSE: '1s',
  HEALTH_INTERVAL: '250ms',
  CLOSE_SPREAD: `${CLOSE_SPREAD_MS / 1000}s`,
  WS_CLOSE_TIMEOUT: `${WS_CLOSE_TIMEOUT_MS / 1000}s`,
  WS_CLOSE_CODE: String(WS_CLOSE_CODE),
};
const LOAD: LoadPlan = {
  quickClients: 6,
  quickPauseMs: 20,
  slowEveryMs: 250,
  slowMs: 2000,
  durationMs: 6500,
  requestTimeoutMs: 8000,
};
const STREAMS: StreamPlan = {
  webSocketClients: 8,
  eventStreamClients: 2,
  durationMs: LOAD.durationMs,
  reconnectDelayMs: 100,
  pingEveryMs: 500,
  connectTimeoutMs: 5000,
};
const TERMINATE_AT_MS = 1500;
/** How long after the deletion the clients stop choosing the pod (EndpointSlice -> kube-proxy). */
const PROPAGATION_LAG_MS = 1000;
/** terminationGracePeriodSeconds of the emulated pods: past it, SIGKILL. */
const GRACE_PERIOD_MS = 15_000;
/** At the end of a run, how long the apps get to log the clients' last WebSocket closes. */
const APP_LOG_SETTLE_MS = 1000;
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
  /** drain-proxy's WebSocket closing-handshake metrics, read once the drain was over. */
  readonly handshakes: HandshakeMetrics | undefined;
}

interface HandshakeMetrics {
  readonly completed: number;
  readonly totalSeconds: number;
  readonly timedOut: number;
}

/** The closing-handshake figures from drain-proxy's /metrics (undefined when unavailable). */
async function readHandshakeMetrics(pod: Pod): Promise<HandshakeMetrics | undefined> {
  const body = await scrape(`http://${pod.address.ip}:${pod.address.adminPort}/metrics`, 1000) ?? '';
  const completed = metricValue(body, 'drain_proxy_websocket_close_handshake_seconds_count');
  const totalSeconds = metricValue(body, 'drain_proxy_websocket_close_handshake_seconds_sum');
  const timedOut = metricValue(body, 'drain_proxy_websocket_close_timeouts_total');
  if (completed === undefined || totalSeconds === undefined || timedOut === undefined) return undefined;
  return { completed, totalSeconds, timedOut };
}

/** A WebSocket close as the app saw it (its "websocket closed" log line). */
interface AppWebSocketClose {
  readonly pod: string;
  readonly code: number;
}

interface RunResult {
  readonly kind: RunKind;
  readonly outcomes: Outcome[];
  readonly webSockets: WebSocketSession[];
  readonly eventStreams: EventStreamSession[];
  readonly appWebSocketCloses: AppWebSocketClose[];
  readonly termination: Termination;
  readonly forwardedFor: string | undefined;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
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
  let handshakes: HandshakeMetrics | undefined;
  let readinessWatch: Promise<void> = Promise.resolve();
  let terminated = false;
  if (pod.proxy !== undefined) {
    readinessWatch = watchReadiness(pod, record, () => terminated);
    const drainUrl = `http://${pod.address.ip}:${pod.address.adminPort}/drain?wait=1`;
    record(`kubelet: preStop httpGet ${drainUrl.replace(/^http:\/\/[^/]+/, '')} (admin port ${pod.address.adminPort})`);
    try {
      preStop = await httpGet(drainUrl, GRACE_PERIOD_MS);
      record(`kubelet: preStop returned ${preStop.status}`);
      // Not the kubelet's doing: the demo reads drain-proxy's metrics before the SIGTERM ends it.
      handshakes = await readHandshakeMetrics(pod);
    } catch (err) {
      preStop = err as Error;
      record(`kubelet: preStop failed: ${preStop.message}`);
    }
  } else {
    record('kubelet: no preStop hook (the legacy app has none)');
  }

  record(pod.proxy === undefined ? 'kubelet: SIGTERM to the app' : 'kubelet: SIGTERM to the app and to drain-proxy');
  pod.app.signal('SIGTERM');
  pod.proxy?.signal('SIGTERM');
  const remainingGraceMs = Math.max(0, GRACE_PERIOD_MS - (performance.now() - t0));
  const [appExit, proxyExit] = await Promise.all([
    pod.app.waitForExit(remainingGraceMs),
    pod.proxy?.waitForExit(remainingGraceMs),
  ]);
  terminated = true;
  await Promise.all([endpointRemoval, readinessWatch]);
  for (const line of pod.proxy?.logs ?? []) {
    const describe = PROXY_LOG_EVENTS[String(line.msg)];
    const loggedAt = typeof line.time === 'string' ? Date.parse(line.time) : Number.NaN;
    if (describe !== undefined && loggedAt >= t0Wall) timeline.push({ atMs: loggedAt - t0Wall, text: describe(line) });
  }
  timeline.sort((a, b) => a.atMs - b.atMs);

  const drainFinishedLog = pod.proxy?.logs.find((line) => line.msg === 'drain finished') as DrainSummary | undefined;
  return { startedAt, timeline, preStop, appExit, proxyExit, drainFinishedLog, handshakes };
}

async function runScenario(kind: RunKind, addresses: PodAddress[]): Promise<RunResult> {
  const proxySettings = kind === 'drain-proxy' ? PROXY_SETTINGS : undefined;
  const pods = await Promise.all(addresses.map((address) => startPod(address, proxySettings)));
  const [podA, ...otherPods] = pods;
  const endpoints = new EndpointList(pods.map((pod) => pod.endpoint));

  let forwardedFor: string | undefined;
  if (kind === 'drain-proxy') {
    const seen = await httpGet(`http://${podA.endpoint.host}:${podA.endpoint.port}/headers`, 2000);
    forwardedFor = (JSON.parse(seen.body) as { headers: Record<string, string> }).headers['x-forwarded-for'];
  }

  const load = new LoadGenerator(endpoints, LOAD);
  const streams = new StreamClients(endpoints, STREAMS, load.clock);
  const loadFinished = Promise.all([load.run(), streams.run()]);
  await sleep(TERMINATE_AT_MS);
  const termination = await terminatePod(podA, endpoints, load.clock);
  await loadFinished;

  // The clients' own closes at the end of the run reach the apps a moment after the clients saw them (one more
  // hop through drain-proxy): let the apps log them before they are stopped, so their count is complete.
  const opened = (pod: Pod): number => streams.webSocketSessions.filter((session) => session.pod === pod.address.name && session.openedAt !== undefined).length;
  const logged = (pod: Pod): number => pod.app.logs.filter((line) => line.msg === 'websocket closed').length;
  const settleBy = performance.now() + APP_LOG_SETTLE_MS;
  while (performance.now() < settleBy && otherPods.some((pod) => logged(pod) < opened(pod))) await sleep(20);

  // The other pods are stopped only to end the run; their shutdown is not part of the story.
  await Promise.all(otherPods.flatMap((pod) => [pod.app.stop(GRACE_PERIOD_MS), pod.proxy?.stop(GRACE_PERIOD_MS)]));
  const appWebSocketCloses = pods.flatMap((pod) =>
    pod.app.logs
      .filter((line) => line.msg === 'websocket closed')
      .map((line) => ({ pod: pod.address.name, code: Number(line.code) })),
  );
  return {
    kind,
    outcomes: load.outcomes,
    webSockets: streams.webSocketSessions,
    eventStreams: streams.eventStreamSessions,
    appWebSocketCloses,
    termination,
    forwardedFor,
  };
}

function drainSummaryOf(termination: Termination): DrainSummary | undefined {
  if (termination.preStop instanceof Error || termination.preStop === undefined) return termination.drainFinishedLog;
  try {
    return JSON.parse(termination.preStop.body) as DrainSummary;
  } catch {
    return termination.drainFinishedLog;
  }
}

function describeWebSocketEnd(session: WebSocketSession): string {
  if (session.code === 1006) return `connection lost without a close frame (1006, abnormal closure${session.error ? `: ${session.error}` : ''})`;
  return `close frame ${session.code}${session.reason === '' ? '' : ` "${session.reason}"`}`;
}

function range(values: readonly number[], prefix = ''): string {
  if (values.length === 0) return 'none';
  const [min, max] = [prefix + seconds(Math.min(...values)), prefix + seconds(Math.max(...values))];
  return min === max ? min : `${min} .. ${max}`;
}

/**
 * What happened to a client after one of its sessions ended: failed connects,
 * then the session that opened (if any before the end of the run).
 */
function afterwards<S extends { client: number; startedAt: number; openedAt: number | undefined; end: string; pod: string; endedAt: number }>(
  sessions: readonly S[],
  ended: S,
): { failed: S[]; next: S | undefined } {
  const later = sessions
    .filter((session) => session.client === ended.client && session.startedAt >= ended.endedAt)
    .sort((a, b) => a.startedAt - b.startedAt);
  const failed: S[] = [];
  for (const session of later) {
    if (session.end !== 'connect-failed') return { failed, next: session };
    failed.push(session);
  }
  return { failed, next: undefined };
}

function describeFailedConnects(failed: readonly { pod: string }[], detail: (index: number) => string): string {
  if (failed.length === 0) return '';
  return `reconnect failed x${failed.length} (${[...countBy(failed.map((session, index) => `${session.pod}: ${detail(index)}`), (text) => text)]
    .map(([text, count]) => `${text}${count > 1 ? ` x${count}` : ''}`)
    .join(', ')}), then `;
}

interface StreamReport {
  readonly timeline: TimelineEvent[];
  readonly lines: string[];
  readonly problems: string[];
  readonly abnormalWebSocketCloses: number;
  readonly cutEventStreams: number;
}

/** WebSocket and event-stream sessions: timeline entries for pod-a's, summary lines, and (drain-proxy run) problems. */
function streamReport(result: RunResult, podAName: string): StreamReport {
  const t0 = result.termination.startedAt;
  const timeline: TimelineEvent[] = [];
  const lines: string[] = [];
  const problems: string[] = [];
  const proxied = result.kind === 'drain-proxy';

  // ---- WebSockets
  const ws = result.webSockets;
  const wsEndedByServer = ws.filter((session) => session.end === 'server' || session.end === 'cut');
  const wsFromPodA = wsEndedByServer.filter((session) => session.pod === podAName && session.endedAt >= t0);
  const reconnectDelays: number[] = [];
  const reconnectPods: string[] = [];
  for (const session of wsFromPodA) {
    const { failed, next } = afterwards(ws, session);
    const failedText = describeFailedConnects(failed, (index) => failed[index].error ?? 'failed');
    const then = next?.openedAt === undefined
      ? `${failedText}no reconnect before the end of the run`
      : `${failedText}reconnected to ${next.pod} ${seconds(next.openedAt - session.endedAt)} later`;
    if (next?.openedAt !== undefined) {
      reconnectDelays.push(next.openedAt - session.endedAt);
      reconnectPods.push(next.pod);
    }
    timeline.push({ atMs: session.endedAt - t0, text: `WebSocket client ${session.client}: ${describeWebSocketEnd(session)} from ${podAName}; ${then}` });
  }
  const codes = tally(wsEndedByServer, (session) => `${session.code}${session.code === 1006 ? ' (abnormal)' : ''}`) || 'none';
  const abnormal = ws.filter((session) => session.end === 'cut');
  const wsConnectFailures = ws.filter((session) => session.end === 'connect-failed');
  const opened = ws.filter((session) => session.openedAt !== undefined);
  const reconnects = opened.length - new Set(opened.map((session) => session.client)).size;
  lines.push(`  WebSockets: ${STREAMS.webSocketClients} clients, ${opened.length} sessions opened (${reconnects} of them reconnects); ` +
    `closes not asked for by the client, by code: ${codes}; failed connects: ${wsConnectFailures.length}; ` +
    `closed by the clients at the end of the run: ${ws.filter((session) => session.end === 'client').length}`);
  const closeTimes = wsFromPodA.filter((session) => session.end === 'server').map((session) => session.endedAt - t0);
  if (proxied) {
    const spread = closeTimes.length > 1 ? ` (spread ${seconds(Math.max(...closeTimes) - Math.min(...closeTimes))})` : '';
    lines.push(`    ${podAName}'s close frames reached its ${closeTimes.length} clients at ${range(closeTimes, '+')} after the deletion${spread}; ` +
      `window +${seconds(DRAIN_DELAY_MS)} .. +${seconds(DRAIN_DELAY_MS + CLOSE_SPREAD_MS)} (DRAIN_DELAY + CLOSE_SPREAD)`);
  }
  if (wsFromPodA.length > 0) {
    lines.push(`    reconnects after ${podAName}'s closes: ${reconnectDelays.length} of ${wsFromPodA.length}, after ${range(reconnectDelays)}, to ` +
      (tally(reconnectPods, (pod) => pod) || 'nowhere'));
  }
  const appCloses = tally(result.appWebSocketCloses, (close) => `${close.pod} ${close.code}`);
  const handshakes = result.termination.handshakes;
  if (handshakes !== undefined) {
    const mean = handshakes.completed > 0 ? `, ${((handshakes.totalSeconds / handshakes.completed) * 1000).toFixed(1)} ms on average` : '';
    lines.push(`    drain-proxy on ${podAName}: ${handshakes.completed} closing handshakes completed (client's reply forwarded, ` +
      `app's answer received${mean}), ${handshakes.timedOut} timed out`);
  }
  const appLoggedPodA = result.appWebSocketCloses.filter((close) => close.pod === podAName).length;
  const unlogged = proxied && appLoggedPodA < closeTimes.length
    ? ` (${closeTimes.length - appLoggedPodA} of ${podAName}'s sockets not logged: their TCP close was still on its way when the ` +
      'app, which exits at once on SIGTERM, was terminated)'
    : '';
  lines.push(`    the apps logged their WebSockets closing with: ${appCloses || 'nothing'}` +
    (appLoggedPodA > 0 || proxied ? unlogged : ` (${podAName}'s app logged none: it exited at once)`));
  lines.push(`    messages received: ${ws.reduce((sum, session) => sum + session.ticks, 0)} ticks, ` +
    `${ws.reduce((sum, session) => sum + session.echoes, 0)} echoes of the clients' pings`);

  // ---- server-sent events
  const sse = result.eventStreams;
  const sseFromPodA = sse.filter((session) => session.pod === podAName && (session.end === 'server' || session.end === 'cut') && session.endedAt >= t0);
  for (const session of sseFromPodA) {
    const { failed, next } = afterwards(sse, session);
    const failedText = describeFailedConnects(failed, (index) => failed[index].detail);
    const ended = session.end === 'server'
      ? `${podAName} ended the stream after event ${session.lastId} (between events)`
      : `the stream from ${podAName} was cut (${session.detail}) after event ${session.lastId}`;
    const then = next?.openedAt === undefined
      ? `${failedText}no reconnect before the end of the run`
      : `${failedText}resumed on ${next.pod} with Last-Event-ID ${next.resumedAfter}, next event ${next.firstId ?? 'none yet'}`;
    timeline.push({ atMs: session.endedAt - t0, text: `event stream client ${session.client}: ${ended}; ${then}` });
  }
  const sseOpened = sse.filter((session) => session.openedAt !== undefined);
  const sseCut = sse.filter((session) => session.end === 'cut');
  const sseFailed = sse.filter((session) => session.end === 'connect-failed');
  const resumed = sseOpened.filter((session) => session.resumedAfter !== undefined);
  const gaps = sse.reduce((sum, session) => sum + session.idGaps, 0);
  lines.push(`  event streams (GET /events): ${STREAMS.eventStreamClients} clients, ${sseOpened.length} streams opened; ` +
    `ended by the server after a complete event: ${sse.filter((session) => session.end === 'server').length}, ` +
    `cut: ${sseCut.length}; failed connects: ${sseFailed.length}; resumed with Last-Event-ID: ${resumed.length}; ` +
    `event ids skipped or repeated: ${gaps}; events received: ${sse.reduce((sum, session) => sum + session.events, 0)}`);

  if (proxied) {
    const list = <T>(items: readonly T[], what: string, describe: (item: T) => string): void => {
      if (items.length > 0) problems.push(`${items.length} ${what}: ${items.map(describe).join('; ')}`);
    };
    list(abnormal, 'WebSocket connections closed abnormally', (session) => `client ${session.client} on ${session.pod} at +${seconds(session.endedAt - t0)} (${describeWebSocketEnd(session)})`);
    list(wsEndedByServer.filter((session) => session.end === 'server' && session.code !== WS_CLOSE_CODE), `WebSocket closes by the server with a code other than ${WS_CLOSE_CODE}`,
      (session) => `client ${session.client} on ${session.pod}: ${describeWebSocketEnd(session)}`);
    list(wsConnectFailures, 'WebSocket connects failed', (session) => `${session.pod} at +${seconds(session.startedAt - t0)}: ${session.error}`);
    const earliest = DRAIN_DELAY_MS - 50;
    const latest = DRAIN_DELAY_MS + CLOSE_SPREAD_MS + WS_CLOSE_TIMEOUT_MS;
    const outside = closeTimes.filter((at) => at < earliest || at > latest);
    if (outside.length > 0) {
      problems.push(`${outside.length} close frames outside DRAIN_DELAY .. DRAIN_DELAY + CLOSE_SPREAD (+ WS_CLOSE_TIMEOUT): ` +
        outside.map((at) => `+${seconds(at)}`).join(', '));
    }
    if (closeTimes.length === 0) problems.push(`the run did not exercise the WebSocket drain (no close frame from ${podAName})`);
    const appAbnormal = result.appWebSocketCloses.filter((close) => close.code === 1006);
    if (appAbnormal.length > 0) {
      problems.push(`the apps saw ${appAbnormal.length} abnormal WebSocket closures (1006): ` +
        appAbnormal.map((close) => close.pod).join(', '));
    }
    const appPodA = result.appWebSocketCloses.filter((close) => close.pod === podAName);
    const appOther = appPodA.filter((close) => close.code !== WS_CLOSE_CODE);
    if (appOther.length > 0) {
      problems.push(`${podAName}'s app saw WebSockets close with codes other than ${WS_CLOSE_CODE}: ${appOther.map((close) => close.code).join(', ')}`);
    }
    // The client's close reply goes to the app and the app's answer ends the handshake: drain-proxy counts those.
    if (handshakes === undefined) {
      problems.push(`could not read ${podAName}'s drain-proxy WebSocket closing-handshake metrics`);
    } else {
      if (handshakes.timedOut > 0) problems.push(`${handshakes.timedOut} WebSocket closing handshakes timed out (WS_CLOSE_TIMEOUT)`);
      if (handshakes.completed !== closeTimes.length) {
        problems.push(`drain-proxy completed ${handshakes.completed} WebSocket closing handshakes with the app, ` +
          `for ${closeTimes.length} close frames the clients received`);
      }
    }
    list(sseCut, 'event streams cut', (session) => `client ${session.client} on ${session.pod} at +${seconds(session.endedAt - t0)} (${session.detail})`);
    list(sseFailed, 'event stream connects failed', (session) => `${session.pod} at +${seconds(session.startedAt - t0)}: ${session.detail}`);
    if (gaps > 0) problems.push(`${gaps} event ids skipped or repeated across the event streams`);
    if (STREAMS.eventStreamClients > 0 && !sseFromPodA.some((session) => session.end === 'server')) {
      problems.push(`the run did not exercise the event-stream drain (no stream ended by ${podAName})`);
    }
  }
  return { timeline, lines, problems, abnormalWebSocketCloses: abnormal.length, cutEventStreams: sseCut.length };
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
  const streams = streamReport(result, podAName);
  const timeline = [...termination.timeline, ...streams.timeline].sort((a, b) => a.atMs - b.atMs);
  console.log('  timeline (from the pod deletion):');
  for (const event of timeline) console.log(`    +${seconds(event.atMs).padStart(7)}  ${event.text}`);
  console.log(`  requests: ${outcomes.length} sent, ${outcomes.length - failed.length} succeeded, ${failed.length} failed ` +
    `(${FAILURE_KINDS.map((kind) => `${kind} ${byKind.get(kind) ?? 0}`).join(', ')})`);
  console.log(`    slow (2 s) requests: ${slow.length} sent, ${slow.filter((outcome) => outcome.kind === 'ok').length} succeeded; ` +
    `${slowInFlightAtT0.length} were in flight on ${podAName} when it was deleted, ` +
    `${slowInFlightAtT0.filter((outcome) => outcome.kind === 'ok').length} of them succeeded`);
  console.log(`    sent to ${podAName} after its deletion: ${toPodAAfterT0.length}, ` +
    `${toPodAAfterT0.filter((outcome) => outcome.kind === 'ok').length} succeeded, ` +
    `${toPodAAfterT0.filter((outcome) => outcome.connectionClose).length} answered with Connection: close`);
  if (failed.length > 0) {
    console.log(`    failures: ${tally(failed, (outcome) => `${outcome.kind} (${outcome.path.replace(/\?.*/, '')}: ${outcome.detail})`)}`);
  }
  for (const line of streams.lines) console.log(line);

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
    console.log(`  drain (drain-proxy's summary): ${summary.durationMs === undefined ? '?' : seconds(summary.durationMs)}, ` +
      `trigger ${summary.trigger}, ${summary.requestsCompleted} requests completed during the drain, ` +
      `connections closed by reason: ${closed}; cut at the deadline: ${summary.cut}`);
    if ((summary.cut ?? 0) > 0) problems.push(`${summary.cut} connections cut at the drain deadline`);
  }
  const log = termination.drainFinishedLog;
  console.log(log === undefined
    ? '  drain-proxy logged no "drain finished" line'
    : `  drain-proxy's "drain finished" log line: exitCode ${log.exitCode}, durationMs ${log.durationMs}`);
  if (log === undefined) problems.push('drain-proxy logged no "drain finished" line');
  if (termination.proxyExit?.code !== 0) problems.push(`drain-proxy ${describeExit(termination.proxyExit)} (expected exit code 0)`);
  if (failed.length > 0) problems.push(`${failed.length} requests failed`);
  problems.push(...streams.problems);
  if (toPodAAfterT0.length === 0 || slowInFlightAtT0.length === 0) {
    problems.push(`the run did not exercise the drain (${toPodAAfterT0.length} requests after the deletion, ` +
      `${slowInFlightAtT0.length} slow ones in flight at it)`);
  }
  return problems;
}

async function main(): Promise<number> {
  if (!drainProxyBuilt()) {
    console.error(`${MAIN} is missing: run \`npm run build\` first (npm run demo does).`);
    return 1;
  }
  const { pods: addresses, layout } = await choosePodAddresses(['pod-a', 'pod-b']);
  const [podA] = addresses;

  console.log('drain-proxy demo: a Service with two pods; pod-a is deleted while clients keep sending requests and holding streams');
  console.log(`  pods (${layout}):`);
  for (const pod of addresses) {
    console.log(`    ${pod.name}: ${pod.ip}  app :${pod.appPort}, drain-proxy :${pod.proxyPort}, admin :${pod.adminPort}`);
  }
  console.log(`  load: ${LOAD.quickClients} keep-alive clients sending GET / back to back (${LOAD.quickPauseMs} ms apart), ` +
    `plus GET /slow?ms=${LOAD.slowMs} every ${LOAD.slowEveryMs} ms, round robin over the ready endpoints, for ${seconds(LOAD.durationMs)}`);
  console.log(`  streams: ${STREAMS.webSocketClients} WebSocket clients on /ws (the app sends a tick every 200 ms and echoes a ping ` +
    `every ${STREAMS.pingEveryMs} ms) and ${STREAMS.eventStreamClients} server-sent event clients on /events, spread over the ` +
    `endpoints; each reconnects ${STREAMS.reconnectDelayMs} ms after its stream ends, to a ready endpoint (event streams with Last-Event-ID)`);
  console.log(`  pod-a is deleted at ${seconds(TERMINATE_AT_MS)}; the clients learn of it ${seconds(PROPAGATION_LAG_MS)} later; ` +
    `drain-proxy runs with DRAIN_DELAY=${PROXY_SETTINGS.DRAIN_DELAY} DRAIN_TIMEOUT=${PROXY_SETTINGS.DRAIN_TIMEOUT} ` +
    `DRAIN_IDLE_CLOSE=${PROXY_SETTINGS.DRAIN_IDLE_CLOSE}`);
  console.log(`  at drain, drain-proxy sends each WebSocket a close frame ${PROXY_SETTINGS.WS_CLOSE_CODE} (Service Restart) and ends each event ` +
    `stream after a complete event, at its own moment in CLOSE_SPREAD=${PROXY_SETTINGS.CLOSE_SPREAD} from DRAIN_DELAY on ` +
    `(WS_CLOSE_TIMEOUT=${PROXY_SETTINGS.WS_CLOSE_TIMEOUT}), when the clients' reconnects already go to pod-b`);

  console.log('\nRun 1, baseline: clients -> legacy app (no drain-proxy)');
  const baseline = await runScenario('baseline', addresses);
  report(baseline, podA.name);

  console.log('\nRun 2, with drain-proxy: clients -> drain-proxy -> legacy app');
  const proxied = await runScenario('drain-proxy', addresses);
  const problems = report(proxied, podA.name);

  const lost = (result: RunResult): { requests: number; webSockets: number; eventStreams: number } => {
    const streams = streamReport(result, podA.name);
    return {
      requests: result.outcomes.filter((outcome) => outcome.kind !== 'ok').length,
      webSockets: streams.abnormalWebSocketCloses,
      eventStreams: streams.cutEventStreams,
    };
  };
  const [without, withProxy] = [lost(baseline), lost(proxied)];
  const describe = (counts: ReturnType<typeof lost>): string =>
    `${counts.requests} failed requests, WebSocket abnormal closures (1006): ${counts.webSockets}, event streams cut: ${counts.eventStreams}`;
  console.log(`\nResult: without drain-proxy ${describe(without)}; with drain-proxy ${describe(withProxy)}.`);
  if (without.requests + without.webSockets + without.eventStreams === 0) {
    console.log('  (the baseline lost nothing this time: the comparison shows less than usual)');
  }
  if (problems.length === 0) {
    console.log(`CHECK PASSED: the drain-proxy run lost no request, every WebSocket on pod-a was closed with ${WS_CLOSE_CODE} and ` +
      'reconnected, no abnormal closure, every event stream ended between events, and drain-proxy exited 0.');
    return 0;
  }
  console.log('CHECK FAILED:');
  for (const problem of problems) console.log(`  - ${problem}`);
  return 1;
}

runMain('demo', main, DEMO_WATCHDOG_MS);
