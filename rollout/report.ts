/**
 * What the clients saw in each scenario: a table on stdout, docs/rollout.md and
 * docs/rollout.svg (errors per second over time, rollout events marked).
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { status as grpcStatus } from '@grpc/grpc-js';
import type { ChannelConnection, GrpcCall } from '../demo/support/grpc-clients.ts';
import type { EventStreamSession, WebSocketSession } from '../demo/support/streams.ts';
import type { Outcome } from '../demo/support/traffic.ts';
import type { ClusterEvent, ScenarioSpec, Termination } from './cluster.ts';
import { consoleTable, markdownTable, tally } from '../harness/tables.ts';
import { busiestWindow, reconnectsOf, reconnectTimes } from './rates.ts';

export interface ScenarioResult {
  readonly spec: ScenarioSpec;
  readonly outcomes: Outcome[];
  readonly webSockets: WebSocketSession[];
  readonly eventStreams: EventStreamSession[];
  readonly grpcCalls: GrpcCall[];
  readonly events: ClusterEvent[];
  readonly terminations: Termination[];
  readonly errors: string[];
  readonly serviceStats: { connections: number; noEndpoint: number; backendConnectErrors: Record<string, number>; backendResets: number } | undefined;
  /** On the clients' clock. */
  readonly durationMs: number;
  readonly wallMs: number;
}

/** The reconnect-rate measurement: one pod's long-lived clients reconnecting to the surviving pods. */
export interface SpreadResult {
  readonly spec: ScenarioSpec;
  readonly webSockets: WebSocketSession[];
  /** The gRPC channels' connections (each READY), and their calls. */
  readonly grpcConnections: ChannelConnection[];
  readonly grpcCalls: number;
  readonly grpcFailures: number;
  /** The raw h2c clients' sessions, and their requests. */
  readonly h2Connections: ChannelConnection[];
  readonly h2Requests: number;
  readonly h2Failures: number;
  readonly h2RefusedAndRetried: number;
  /** When the pod was deleted, on the clients' clock, and which. */
  readonly deletedAt: number;
  readonly deletedPod: string;
  readonly windowMs: number;
  readonly clients: { readonly webSockets: number; readonly grpcChannels: number; readonly h2Clients: number };
  readonly replicas: number;
  readonly terminations: Termination[];
  /** The setup with spreading on, held to MAX_SPREAD_RATIO with nothing failed and nothing back on the pod going away. */
  readonly checked: boolean;
}

const SPREAD_KINDS = ['WebSocket', 'HTTP/2 (gRPC channels + h2c)', 'all together'] as const;
type SpreadKind = (typeof SPREAD_KINDS)[number];

interface SpreadRow {
  readonly result: SpreadResult;
  readonly kind: SpreadKind;
  readonly clients: number;
  readonly reconnects: number;
  /** 1006 closures and failed connects (WebSocket); failed calls and requests (HTTP/2). */
  readonly failed: number;
  /** Reconnects after the deletion that reached the pod being deleted. */
  readonly landedBack: number;
  readonly firstMs: number;
  readonly lastMs: number;
  readonly peak: number;
  /** reconnects / window, per second: the steady rate a perfect spread gives. */
  readonly steadyRate: number;
  readonly ratio: number;
}

/** A client's connection: who, when, and the pod that served it (undefined when nothing answered). */
interface Reconnectable {
  readonly client: number;
  readonly startedAt: number;
  readonly pod: string | undefined;
}

/** Client ids of the HTTP/2 clients, apart from the gRPC channels'. */
const H2_CLIENT_IDS = 100_000;

function connectionsOf(result: SpreadResult, kind: SpreadKind): { connections: Reconnectable[]; clients: number; failed: number } {
  const webSockets = {
    connections: result.webSockets.map((session) => ({ client: session.client, startedAt: session.startedAt, pod: session.servedBy })),
    clients: result.clients.webSockets,
    failed: result.webSockets.filter((session) => session.end === 'cut' || session.end === 'connect-failed').length,
  };
  const h2 = {
    connections: [
      ...result.grpcConnections.map((c) => ({ ...c, client: H2_CLIENT_IDS + c.client })),
      ...result.h2Connections.map((c) => ({ ...c, client: 2 * H2_CLIENT_IDS + c.client })),
    ],
    clients: result.clients.grpcChannels + result.clients.h2Clients,
    failed: result.grpcFailures + result.h2Failures,
  };
  if (kind === 'WebSocket') return webSockets;
  if (kind !== 'all together') return h2;
  return { connections: [...webSockets.connections, ...h2.connections], clients: webSockets.clients + h2.clients, failed: webSockets.failed + h2.failed };
}

function summarizeSpread(result: SpreadResult, kind: SpreadKind): SpreadRow {
  const { connections, clients, failed } = connectionsOf(result, kind);
  const after = reconnectsOf(connections).filter((c) => c.startedAt >= result.deletedAt);
  const times = after.map((c) => c.startedAt);
  const reconnects = times.length;
  const steadyRate = reconnects / (result.windowMs / 1000);
  const peak = busiestWindow(times, 1000);
  return {
    result,
    kind,
    clients,
    reconnects,
    failed,
    landedBack: after.filter((c) => c.pod === result.deletedPod).length,
    firstMs: times.length === 0 ? 0 : Math.min(...times) - result.deletedAt,
    lastMs: times.length === 0 ? 0 : Math.max(...times) - result.deletedAt,
    peak,
    steadyRate,
    ratio: steadyRate === 0 ? 0 : peak / steadyRate,
  };
}

function clientsText(result: SpreadResult): string {
  const { webSockets, grpcChannels, h2Clients } = result.clients;
  return `${webSockets} WebSocket clients, ${grpcChannels} gRPC channels, ${h2Clients} raw h2c clients`;
}

/** A row per kind of client the setup ran, and one for all of them together when it ran more than one kind. */
function spreadRowsOf(result: SpreadResult): SpreadRow[] {
  const rows = SPREAD_KINDS.map((kind) => summarizeSpread(result, kind));
  const kinds = rows.filter((row) => row.kind !== 'all together' && row.clients > 0);
  return kinds.length > 1 ? rows : kinds;
}

const SPREAD_COLUMNS: [string, (row: SpreadRow) => string | number][] = [
  ['setup', (row) => `${row.result.spec.id}) ${row.result.spec.title}`],
  ['clients', (row) => `${row.clients} ${row.kind}`],
  ['reconnects after the deletion', (row) => row.reconnects],
  ['landed back on the pod going away', (row) => row.landedBack],
  ['failed (1006, connects, calls, requests)', (row) => row.failed],
  ['first / last reconnect after deletion s', (row) => `${(row.firstMs / 1000).toFixed(1)} / ${(row.lastMs / 1000).toFixed(1)}`],
  ['peak reconnects in any 1 s', (row) => row.peak],
  ['steady rate (reconnects / 5 s window) per s', (row) => row.steadyRate.toFixed(1)],
  ['peak / steady', (row) => `${row.ratio.toFixed(2)}x`],
  ['pod gone after s', (row) => row.result.terminations.map((t) => (t.durationMs / 1000).toFixed(1)).join(', ') || '?'],
];

interface Row {
  readonly result: ScenarioResult;
  readonly requests: number;
  readonly reset: number;
  readonly refused: number;
  readonly status5xx: number;
  readonly otherFailures: number;
  readonly retried: number;
  readonly grpcCalls: number;
  readonly grpcFailures: string;
  readonly grpcFailed: number;
  readonly wsSessions: number;
  readonly ws1006: number;
  readonly wsConnectFailed: number;
  readonly wsServerCloses: string;
  readonly wsPeakReconnects: number;
  readonly sseStreams: number;
  readonly sseCut: number;
  readonly sseNoLastEventId: number;
  readonly sseGaps: number;
  readonly sseConnectFailed: number;
  readonly serviceRefused: number;
  readonly drain: string;
  readonly sigkills: number;
  readonly lost: number;
}

const DOC = fileURLToPath(new URL('../docs/rollout.md', import.meta.url));
const SVG = fileURLToPath(new URL('../docs/rollout.svg', import.meta.url));

/** Moments something was lost, on the clients' clock. */
function lossTimes(result: ScenarioResult): number[] {
  return [
    ...result.outcomes.filter((outcome) => outcome.kind !== 'ok').map((outcome) => outcome.endedAt),
    ...result.webSockets.filter((session) => session.end === 'cut' || session.end === 'connect-failed').map((session) => session.endedAt),
    ...result.eventStreams.filter((session) => session.end === 'cut' || session.end === 'connect-failed').map((session) => session.endedAt),
    ...result.grpcCalls.filter((call) => call.failed).map((call) => call.endedAt),
  ];
}

function grpcFailureText(calls: readonly GrpcCall[]): string {
  return tally(calls.filter((c) => c.failed), (call) => (call.code === 0 ? 'OK but messages missing' : (grpcStatus[call.code] ?? `code ${call.code}`)), ': ') || '0';
}

function summarize(result: ScenarioResult): Row {
  const failed = result.outcomes.filter((outcome) => outcome.kind !== 'ok');
  const count = (kind: string): number => failed.filter((outcome) => outcome.kind === kind).length;
  const ws = result.webSockets;
  const sse = result.eventStreams;
  // A client's first stream has no Last-Event-ID to send; every later one must carry it.
  const firstOfClient = new Set<EventStreamSession>();
  for (const client of new Set(sse.map((session) => session.client))) {
    const first = sse.filter((session) => session.client === client).sort((a, b) => a.startedAt - b.startedAt)[0];
    if (first !== undefined) firstOfClient.add(first);
  }
  const durations = result.terminations.map((termination) => termination.durationMs).sort((a, b) => a - b);
  const s = (ms: number | undefined): string => (ms === undefined ? '?' : (ms / 1000).toFixed(1));
  const drain = durations.length === 0
    ? 'none'
    : `${s(durations[0])} / ${s(durations[Math.floor(durations.length / 2)])} / ${s(durations[durations.length - 1])}`;
  const row = {
    result,
    requests: result.outcomes.length,
    reset: count('reset'),
    refused: count('refused'),
    status5xx: count('5xx'),
    otherFailures: count('timeout') + count('other'),
    retried: result.outcomes.filter((outcome) => outcome.retried.length > 0).length,
    grpcCalls: result.grpcCalls.length,
    grpcFailed: result.grpcCalls.filter((call) => call.failed).length,
    grpcFailures: grpcFailureText(result.grpcCalls),
    wsSessions: ws.filter((session) => session.openedAt !== undefined).length,
    ws1006: ws.filter((session) => session.end === 'cut').length,
    wsConnectFailed: ws.filter((session) => session.end === 'connect-failed').length,
    wsPeakReconnects: busiestWindow(reconnectTimes(ws), 1000),
    wsServerCloses: tally(ws.filter((session) => session.end === 'server'), (session) => String(session.code), ': ') || 'none',
    sseStreams: sse.filter((session) => session.openedAt !== undefined).length,
    sseCut: sse.filter((session) => session.end === 'cut').length,
    sseNoLastEventId: sse.filter((session) => !firstOfClient.has(session) && session.resumedAfter === undefined).length,
    sseGaps: sse.reduce((sum, session) => sum + session.idGaps, 0),
    sseConnectFailed: sse.filter((session) => session.end === 'connect-failed').length,
    serviceRefused: Object.values(result.serviceStats?.backendConnectErrors ?? {}).reduce((a, b) => a + b, 0),
    drain,
    sigkills: result.terminations.filter((termination) => termination.sigkilled).length,
    lost: 0,
  };
  row.lost = failed.length + row.grpcFailed + row.ws1006 + row.wsConnectFailed + row.sseCut + row.sseConnectFailed + row.sseGaps + row.sseNoLastEventId;
  return row;
}

const COLUMNS: [string, (row: Row) => string | number][] = [
  ['scenario', (row) => `${row.result.spec.id}) ${row.result.spec.title}`],
  ['HTTP requests', (row) => row.requests],
  ['failed: reset', (row) => row.reset],
  ['refused', (row) => row.refused],
  ['5xx', (row) => row.status5xx],
  ['timeout/other', (row) => row.otherFailures],
  ['+ failed for clients that do not retry (Node http.Agent)', (row) => row.retried],
  ['gRPC calls', (row) => row.grpcCalls],
  ['gRPC failed (status: n)', (row) => row.grpcFailures],
  ['WebSockets opened', (row) => row.wsSessions],
  ['1006 abnormal', (row) => row.ws1006],
  ['WS connect failed', (row) => row.wsConnectFailed],
  ['WS closed by server (code: n)', (row) => row.wsServerCloses],
  ['peak WS reconnects in 1 s', (row) => row.wsPeakReconnects],
  ['SSE streams', (row) => row.sseStreams],
  ['SSE cut', (row) => row.sseCut],
  ['SSE without Last-Event-ID', (row) => row.sseNoLastEventId],
  ['SSE ids skipped', (row) => row.sseGaps],
  ['SSE connect failed', (row) => row.sseConnectFailed],
  ['backend connects refused at the Service', (row) => row.serviceRefused],
  ['pod drain s (min / median / max)', (row) => row.drain],
  ['SIGKILLs', (row) => row.sigkills],
];

function table<T>(rows: readonly T[], columns: readonly [string, (row: T) => string | number][]): string {
  return markdownTable(columns.map(([name]) => name), rows.map((row) => columns.map(([, value]) => String(value(row)))));
}

function transposedTable(rows: readonly Row[]): string {
  // One line per measure, one column per scenario, so it fits a terminal.
  return [
    ...rows.map((row) => `  ${row.result.spec.id}) ${row.result.spec.title}`),
    consoleTable(['', ...rows.map((row) => `${row.result.spec.id})`)], COLUMNS.slice(1).map(([name, value]) => [name, ...rows.map((row) => String(value(row)))])),
  ].join('\n');
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Errors per second over time, one panel per scenario; pod deletions (grey) and rollout ends (blue) marked. */
function svg(rows: readonly Row[]): string {
  const width = 960;
  const left = 60;
  const right = 20;
  const panelHeight = 110;
  const top = 40;
  const seconds = Math.max(1, ...rows.map((row) => Math.ceil(row.result.durationMs / 1000)));
  const scaleX = (width - left - right) / seconds;
  const perSecond = rows.map((row) => {
    const bins = new Array<number>(seconds + 1).fill(0);
    for (const at of lossTimes(row.result)) bins[Math.min(seconds, Math.floor(at / 1000))]++;
    return bins;
  });
  const peak = Math.max(1, ...perSecond.flat());
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${top + rows.length * panelHeight + 30}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">Client-visible errors per second during the rollouts (failed requests, 1006 closures, cut streams, failed connects)</text>`,
    `<text x="${left}" y="34" fill="#666">grey: pod deleted; blue: rollout complete; bar height scaled to ${peak} errors/s</text>`,
  ];
  rows.forEach((row, index) => {
    const y0 = top + index * panelHeight;
    const base = y0 + panelHeight - 25;
    const barMax = panelHeight - 45;
    parts.push(`<text x="${left}" y="${y0 + 14}" font-weight="bold">${escapeXml(`${row.result.spec.id}) ${row.result.spec.title}`)}: ${row.lost} lost</text>`);
    parts.push(`<line x1="${left}" y1="${base}" x2="${width - right}" y2="${base}" stroke="#999"/>`);
    for (const event of row.result.events) {
      const x = left + (event.atMs / 1000) * scaleX;
      if (event.kind === 'deleted') parts.push(`<line x1="${x.toFixed(1)}" y1="${base - barMax}" x2="${x.toFixed(1)}" y2="${base}" stroke="#bbb" stroke-dasharray="3,2"/>`);
      if (event.kind === 'rollout-done') parts.push(`<line x1="${x.toFixed(1)}" y1="${base - barMax}" x2="${x.toFixed(1)}" y2="${base}" stroke="#36c" stroke-width="1.5"/>`);
    }
    perSecond[index].forEach((count, second) => {
      if (count === 0) return;
      const h = Math.max(1, (count / peak) * barMax);
      parts.push(`<rect x="${(left + second * scaleX).toFixed(1)}" y="${(base - h).toFixed(1)}" width="${Math.max(1, scaleX - 1).toFixed(1)}" height="${h.toFixed(1)}" fill="#d33"><title>${count} at ${second} s</title></rect>`);
    });
    for (let second = 0; second <= seconds; second += 10) {
      parts.push(`<text x="${(left + second * scaleX).toFixed(1)}" y="${base + 14}" text-anchor="middle" fill="#666">${second}s</text>`);
    }
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** Prints the tables, writes docs/rollout.md and docs/rollout.svg when `write`; returns the exit code. */
export function writeReport(results: readonly ScenarioResult[], spreads: readonly SpreadResult[], settings: Record<string, unknown>, write: boolean): number {
  const rows = results.map(summarize);
  const spreadRows = spreads.flatMap(spreadRowsOf);
  const isDrainProxy = (spec: ScenarioSpec): boolean => spec.proxy === 'classic' || spec.proxy === 'native';
  if (rows.length > 0) {
    console.log('\nWhat the clients saw (HTTP failures by kind, gRPC failures, WebSocket 1006, SSE cuts), per scenario:');
    console.log(transposedTable(rows));
  }
  const problems: string[] = [];
  for (const row of rows) {
    for (const error of row.result.errors) problems.push(`${row.result.spec.id}: emulation error: ${error}`);
    if (!isDrainProxy(row.result.spec)) continue;
    if (row.lost > 0) problems.push(`${row.result.spec.id}) ${row.result.spec.title}: ${row.lost} losses`);
    if (row.sigkills > 0) problems.push(`${row.result.spec.id}) ${row.result.spec.title}: ${row.sigkills} pods SIGKILLed`);
    const badExits = row.result.terminations.filter((t) => t.proxyExit?.code !== 0);
    if (badExits.length > 0) problems.push(`${row.result.spec.id}: drain-proxy exit not 0 in ${badExits.map((t) => t.pod).join(', ')}`);
  }
  if (spreadRows.length > 0) {
    console.log(`\nReconnects reaching the surviving pods when one pod of ${spreads[0].replicas} is replaced (${clientsText(spreads[0])}):`);
    console.log(table(spreadRows, SPREAD_COLUMNS));
    for (const spread of spreadRows.filter((row) => row.result.checked)) {
      const what = `${spread.result.spec.id}) ${spread.kind}`;
      if (spread.failed > 0) problems.push(`${what}: ${spread.failed} sessions cut, connects failed, or calls failed`);
      if (spread.landedBack > 0) problems.push(`${what}: ${spread.landedBack} reconnects landed back on the pod going away`);
      if (spread.reconnects === 0 || spread.ratio > MAX_SPREAD_RATIO) {
        problems.push(`${what}: peak reconnect rate ${spread.ratio.toFixed(2)}x the steady rate (at most ${MAX_SPREAD_RATIO}x)`);
      }
    }
  }
  const lossLines: string[] = [];
  const s = (ms: number): string => `${(ms / 1000).toFixed(2)}s`;
  for (const row of rows) {
    const failures = [
      ...row.result.outcomes.filter((o) => o.kind !== 'ok').map((outcome) => `${outcome.kind} ${outcome.path.replace(/\?.*/, '')} (${outcome.detail})`),
      ...row.result.grpcCalls.filter((c) => c.failed).map((call) => `gRPC ${call.method} ${grpcStatus[call.code] ?? call.code} (${call.details.slice(0, 60)})`),
    ];
    if (failures.length > 0) console.log(`  ${row.result.spec.id}) failures: ${tally(failures, (failure) => failure)}`);
    if (!isDrainProxy(row.result.spec)) continue;
    // Every loss in a drain-proxy scenario, with what the cluster did around it, to tell a proxy bug from the emulation.
    const around = (from: number, to: number): string => row.result.events
      .filter((event) => event.atMs >= from - 8000 && event.atMs <= to + 1000 && event.kind !== 'created')
      .map((event) => `${s(event.atMs)} ${event.text}`)
      .join('; ');
    for (const outcome of row.result.outcomes.filter((o) => o.kind !== 'ok')) {
      lossLines.push(`${row.result.spec.id}) lost: ${outcome.path} ${outcome.kind} (${outcome.detail}) started ${s(outcome.startedAt)} ended ${s(outcome.endedAt)} ` +
        `${outcome.reusedSocket === true ? 'on a reused keep-alive connection' : 'on a new connection'}; around it: ${around(outcome.startedAt, outcome.endedAt)}`);
    }
    for (const call of row.result.grpcCalls.filter((c) => c.failed)) {
      lossLines.push(`${row.result.spec.id}) lost: gRPC ${call.method} ${grpcStatus[call.code] ?? call.code} (${call.details}) after ${call.messages} messages, ` +
        `started ${s(call.startedAt)} ended ${s(call.endedAt)}; around it: ${around(call.startedAt, call.endedAt)}`);
    }
    for (const session of [...row.result.webSockets, ...row.result.eventStreams].filter((x) => x.end === 'cut' || x.end === 'connect-failed')) {
      lossLines.push(`${row.result.spec.id}) lost: stream of client ${session.client} ${session.end} at ${s(session.endedAt)}; around it: ${around(session.endedAt, session.endedAt)}`);
    }
  }
  for (const line of lossLines) console.log(`  ${line}`);
  if (write) {
    writeFileSync(DOC, documentText(rows, spreadRows, lossLines, settings));
    writeFileSync(SVG, svg(rows));
    console.log(`\nwritten: docs/rollout.md, docs/rollout.svg`);
  }
  if (problems.length > 0) {
    console.log('CHECK FAILED:');
    for (const problem of problems) console.log(`  - ${problem}`);
    return 1;
  }
  console.log('CHECK PASSED: the drain-proxy scenarios lost no request, no gRPC call, no WebSocket (no 1006), no event stream' +
    (spreadRows.length > 0 ? `; reconnects spread within ${MAX_SPREAD_RATIO}x of the steady rate, none back on the pod going away.` : '.'));
  return 0;
}

/** The figures a test checks, per scenario and per reconnect-rate setup. */
export function summaryOf(results: readonly ScenarioResult[], spreads: readonly SpreadResult[]): Record<string, unknown> {
  return {
    scenarios: results.map(summarize).map((row) => ({
      id: row.result.spec.id,
      proxy: row.result.spec.proxy,
      lost: row.lost,
      requests: row.requests,
      retried: row.retried,
      grpcCalls: row.grpcCalls,
      grpcFailed: row.grpcFailed,
      webSockets: row.wsSessions,
      webSocketServerCloses: row.wsServerCloses,
      eventStreams: row.sseStreams,
      podsReplaced: row.result.terminations.length,
      sigkills: row.sigkills,
      proxyExitCodes: row.result.terminations.map((t) => t.proxyExit?.code ?? null),
    })),
    spreads: spreads.flatMap(spreadRowsOf).map((row) => ({ id: row.result.spec.id, kind: row.kind, reconnects: row.reconnects, landedBack: row.landedBack, failed: row.failed, peak: row.peak, ratio: row.ratio })),
  };
}

/** With CLOSE_SPREAD set, the busiest second of reconnects is at most this times reconnects / window: the clients come back at a steady rate. */
const MAX_SPREAD_RATIO = 1.2;

function documentText(rows: readonly Row[], spreadRows: readonly SpreadRow[], lossLines: readonly string[], settings: Record<string, unknown>): string {
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const spreadSection = spreadRows.length === 0 ? [] : [
    '## Reconnect storms: how fast one pod\'s clients land on the others',
    '',
    `Long-lived clients through the Service on ${spreadRows[0].result.replicas} pods (${clientsText(spreadRows[0].result)}, each kind`,
    'spread round robin over the pods); one pod is replaced as in a rollout step and its clients reconnect to the surviving pods.',
    'The WebSocket clients reconnect 100 ms after their session ends. The gRPC channels (@grpc/grpc-js, its default',
    'pick_first policy) make a unary call every 200 ms and are idle in between: after a GOAWAY the channel goes IDLE and',
    'dials again with its next call. The raw h2c clients (node:http2, a request every 200 ms) dial again the moment their',
    'session gets a GOAWAY or closes, as round_robin channels and most HTTP/2 pools do. A reconnect is any connection of a',
    'client after its first that starts after the deletion; "landed back" counts those served by the pod being deleted.',
    '"Peak" is the most reconnects inside any 1 s window (sliding); the steady rate is what perfectly even spreading over',
    `the ${spreadRows[0].result.windowMs / 1000} s window gives (reconnects / window). The check asks for at most ${MAX_SPREAD_RATIO}x with \`CLOSE_SPREAD\` set, for each`,
    'kind and for all together, with no failed call or 1006 and nothing back on the pod going away. s2 turns spreading off:',
    'every connection is told to go at t0 + DRAIN_DELAY. s4 is the usual HTTP/2 drain (`rollout/goaway-front.ts`, a',
    'node:http2 front on the gRPC port): the two-phase GOAWAY to every session at SIGTERM while the listener stays open through',
    'DRAIN_DELAY because endpoint removal is still propagating, so the clients come back at once and some land back on the',
    'pod that is going away. drain-proxy spaces the moments evenly (each uniform in the window, a sequence per kind of',
    'connection; `src/drain/spread.ts`): of 100 independent random draws, the busiest fifth of the window holds about 28',
    'instead of 20 (1.4x), measured in `test/drain/spread.test.ts`. The semantics: [drain.md](drain.md).',
    '',
    table(spreadRows, SPREAD_COLUMNS),
    '',
  ];
  return [
    '# Rollout under load: what clients lose, by setup',
    '',
    `Recorded ${date} with \`npm run rollout${settings.service === 'iptables' ? ' -- --service iptables' : ''}\` (on a 2-core machine with other work running), written by \`rollout/run.ts\`.`,
    '',
    `Each scenario: ${settings.replicas} replicas rolled ${settings.rollouts} times (maxSurge 1, maxUnavailable 0) behind an emulated`,
    settings.service === 'iptables'
      ? 'Service (kube-proxy-style iptables DNAT rules, an HTTP port and a gRPC port: each new connection goes to a random ready'
      : 'Service (a TCP load balancer process with an HTTP port and a gRPC port: each new connection goes round robin to a ready',
    `endpoint, open connections stay), endpoint changes reaching it ${settings.propagationLagMs} ms late; minReadySeconds ${settings.minReadyMs} ms (so a new pod is in`,
    'the Service before an old one goes); readiness probes every 1 s, failureThreshold 3; the legacy demo app exits at once on',
    'SIGTERM. Clients through the Service: 4 keep-alive HTTP clients (GET / every 50 ms) plus a 2 s request every 500 ms,',
    '6 WebSocket clients and 3 server-sent event clients, all reconnecting when their stream ends, and @grpc/grpc-js clients:',
    '2 sending unary calls one after the other, 2 running server-streaming calls of 10 messages over 2 s, back to back.',
    '',
    '- a) the app alone; b) the app with `preStop: sleep` (shortened here so the run stays short; 10 s is usual);',
    '- c) nginx 1.22 (Debian) as a classic sidecar, configured as commonly done: WebSocket upgrade headers, buffering off, gRPC',
    '  through `grpc_pass` on a second port (nginx 1.22 cannot serve HTTP/1.1 and cleartext HTTP/2 on one port); its preStop',
    '  sleeps, then runs `nginx -s quit` and waits for nginx to exit; the app\'s preStop sleeps as long;',
    '- d) drain-proxy as a classic sidecar: both containers get `preStop: httpGet /drain?wait=1`, each its SIGTERM after its hook;',
    '- e) drain-proxy as a native sidecar: the hook on the app container, the proxy gets SIGTERM once the app has exited.',
    '',
    table(rows, COLUMNS),
    '',
    settings.service === 'iptables'
      ? 'Through DNAT the clients see a pod that no longer listens themselves ("refused"); the Service\'s own column does not apply. Pod drain time is from the deletion to the exit of the last container.'
      : '"refused" counts what clients saw; a refused backend connect at the Service reaches the client as a reset (as it would through a userspace proxy), so the Service\'s own count of refused backend connects is shown beside it. Pod drain time is from the deletion to the exit of the last container.',
    '',
    '![errors per second during the rollouts](rollout.svg)',
    '',
    `Losses in the drain-proxy scenarios in this run: ${lossLines.length === 0 ? 'none.' : ''}`,
    ...lossLines.map((line) => `- ${line}`),
    '',
    ...spreadSection,
    '## The HTTP/1.1 keep-alive close race, and what the clients do about it',
    '',
    'At t0 drain-proxy closes keep-alive connections that have been idle for `DRAIN_IDLE_CLOSE`. A client that sends',
    'a request on such a connection at that very moment (within the ~1-2 ms the close takes to reach it) sees the connection',
    'close under its request: `npm run rollout:idle-race` shows it against drain-proxy directly. No server can avoid this',
    'in HTTP/1.1 (there is no GOAWAY); RFC 9112 section 9.3.1 leaves it to clients, which send an idempotent request again',
    'when a reused connection closes before any response: Go\'s net/http (`shouldRetryRequest`), browsers and curl do. Node\'s',
    'http.Agent does not, so the emulated HTTP clients do it themselves (GET only, only on a reused connection, only before any',
    'response byte, at most twice), in every scenario alike. The "failed" columns count what such clients lose; the column',
    '"+ failed for clients that do not retry" counts the requests that were saved by sending them again, i.e. what a client',
    'like Node\'s http.Agent would lose on top. In the baselines most of these are requests in flight when the app exited',
    '(Go and browsers send those again too, since no response byte had arrived); with drain-proxy they can only be this race.',
    '',
    '## The Service',
    '',
    settings.service === 'iptables'
      ? 'This run used `--service iptables`: the Service is made of iptables DNAT rules as kube-proxy\'s iptables mode writes them (a chain per Service port choosing an endpoint with `-m statistic --mode random`, a DNAT chain per endpoint, conntrack keeping open connections where they are, no endpoints: rejected with a TCP reset), in a network namespace created for the run (`rollout/service-iptables.ts`, `rollout/netns.ts`). Clients see refused connects directly.'
      : 'This run used the default userspace Service (`rollout/service-lb.ts`), which works without root. `npm run rollout -- --service iptables` runs the same scenarios behind iptables DNAT rules written as kube-proxy\'s iptables mode does, in a network namespace created for the run (needs root and `ip netns`).',
    '',
    'Settings:',
    '',
    '```json',
    JSON.stringify(settings, null, 2),
    '```',
    '',
  ].join('\n');
}
