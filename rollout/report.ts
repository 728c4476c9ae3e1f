/**
 * What the clients saw in each scenario: a table on stdout, docs/rollout.md and
 * docs/rollout.svg (errors per second over time, rollout events marked).
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { EventStreamSession, WebSocketSession } from '../demo/support/streams.ts';
import type { Outcome } from '../demo/support/traffic.ts';
import type { ClusterEvent, ScenarioSpec, Termination } from './cluster.ts';

export interface ScenarioResult {
  readonly spec: ScenarioSpec;
  readonly outcomes: Outcome[];
  readonly webSockets: WebSocketSession[];
  readonly eventStreams: EventStreamSession[];
  readonly events: ClusterEvent[];
  readonly terminations: Termination[];
  readonly errors: string[];
  readonly serviceStats: { connections: number; noEndpoint: number; backendConnectErrors: Record<string, number>; backendResets: number } | undefined;
  /** On the clients' clock. */
  readonly durationMs: number;
  readonly wallMs: number;
}

interface Row {
  readonly result: ScenarioResult;
  readonly requests: number;
  readonly reset: number;
  readonly refused: number;
  readonly status5xx: number;
  readonly otherFailures: number;
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
  ];
}

/** Most WebSocket reconnect attempts (a client's sessions after its first) started within one second of the run. */
function peakReconnectsPerSecond(sessions: readonly WebSocketSession[]): number {
  const firsts = new Map<number, number>();
  for (const session of sessions) firsts.set(session.client, Math.min(firsts.get(session.client) ?? Infinity, session.startedAt));
  const bins = new Map<number, number>();
  for (const session of sessions) {
    if (session.startedAt === firsts.get(session.client)) continue;
    const second = Math.floor(session.startedAt / 1000);
    bins.set(second, (bins.get(second) ?? 0) + 1);
  }
  return Math.max(0, ...bins.values());
}

function summarize(result: ScenarioResult): Row {
  const failed = result.outcomes.filter((outcome) => outcome.kind !== 'ok');
  const count = (kind: string): number => failed.filter((outcome) => outcome.kind === kind).length;
  const ws = result.webSockets;
  const serverCodes = new Map<number, number>();
  for (const session of ws.filter((s) => s.end === 'server')) serverCodes.set(session.code, (serverCodes.get(session.code) ?? 0) + 1);
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
    wsSessions: ws.filter((session) => session.openedAt !== undefined).length,
    ws1006: ws.filter((session) => session.end === 'cut').length,
    wsConnectFailed: ws.filter((session) => session.end === 'connect-failed').length,
    wsPeakReconnects: peakReconnectsPerSecond(ws),
    wsServerCloses: [...serverCodes].map(([code, n]) => `${code}: ${n}`).join(', ') || 'none',
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
  row.lost = failed.length + row.ws1006 + row.wsConnectFailed + row.sseCut + row.sseConnectFailed + row.sseGaps + row.sseNoLastEventId;
  return row;
}

const COLUMNS: [string, (row: Row) => string | number][] = [
  ['scenario', (row) => `${row.result.spec.id}) ${row.result.spec.title}`],
  ['HTTP requests', (row) => row.requests],
  ['failed: reset', (row) => row.reset],
  ['refused', (row) => row.refused],
  ['5xx', (row) => row.status5xx],
  ['timeout/other', (row) => row.otherFailures],
  ['WebSockets opened', (row) => row.wsSessions],
  ['1006 abnormal', (row) => row.ws1006],
  ['WS connect failed', (row) => row.wsConnectFailed],
  ['WS closed by server (code: n)', (row) => row.wsServerCloses],
  ['peak WS reconnects/s', (row) => row.wsPeakReconnects],
  ['SSE streams', (row) => row.sseStreams],
  ['SSE cut', (row) => row.sseCut],
  ['SSE without Last-Event-ID', (row) => row.sseNoLastEventId],
  ['SSE ids skipped', (row) => row.sseGaps],
  ['SSE connect failed', (row) => row.sseConnectFailed],
  ['backend connects refused at the Service', (row) => row.serviceRefused],
  ['pod drain s (min / median / max)', (row) => row.drain],
  ['SIGKILLs', (row) => row.sigkills],
];

function markdownTable(rows: readonly Row[]): string {
  const lines = [`| ${COLUMNS.map(([name]) => name).join(' | ')} |`, `|${COLUMNS.map(() => '---').join('|')}|`];
  for (const row of rows) lines.push(`| ${COLUMNS.map(([, value]) => String(value(row))).join(' | ')} |`);
  return lines.join('\n');
}

function consoleTable(rows: readonly Row[]): string {
  // Transposed: one line per measure, one column per scenario, so it fits a terminal.
  const header = ['', ...rows.map((row) => `${row.result.spec.id})`)];
  const body = COLUMNS.slice(1).map(([name, value]) => [name, ...rows.map((row) => String(value(row)))]);
  const table = [header, ...body];
  const widths = header.map((_, column) => Math.max(...table.map((line) => line[column].length)));
  return [
    ...rows.map((row) => `  ${row.result.spec.id}) ${row.result.spec.title}`),
    ...table.map((line) => line.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('  ')),
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

/** Prints the table, writes docs/rollout.md and docs/rollout.svg when `write`; returns the exit code. */
export function writeReport(results: readonly ScenarioResult[], settings: Record<string, unknown>, write: boolean): number {
  const rows = results.map(summarize);
  console.log('\nWhat the clients saw (HTTP failures by kind, WebSocket 1006, SSE cuts), per scenario:');
  console.log(consoleTable(rows));
  const problems: string[] = [];
  for (const row of rows) {
    for (const error of row.result.errors) problems.push(`${row.result.spec.id}: emulation error: ${error}`);
    if (row.result.spec.proxy === 'none') continue;
    if (row.lost > 0) problems.push(`${row.result.spec.id}) ${row.result.spec.title}: ${row.lost} losses`);
    if (row.sigkills > 0) problems.push(`${row.result.spec.id}) ${row.result.spec.title}: ${row.sigkills} pods SIGKILLed`);
    const badExits = row.result.terminations.filter((t) => t.proxyExit?.code !== 0);
    if (badExits.length > 0) problems.push(`${row.result.spec.id}: drain-proxy exit not 0 in ${badExits.map((t) => t.pod).join(', ')}`);
  }
  const lossLines: string[] = [];
  for (const row of rows) {
    const failures = new Map<string, number>();
    for (const outcome of row.result.outcomes.filter((o) => o.kind !== 'ok')) {
      const key = `${outcome.kind} ${outcome.path.replace(/\?.*/, '')} (${outcome.detail})`;
      failures.set(key, (failures.get(key) ?? 0) + 1);
    }
    if (failures.size > 0) console.log(`  ${row.result.spec.id}) failures: ${[...failures].map(([k, n]) => `${k} x${n}`).join(', ')}`);
    if (row.result.spec.proxy === 'none') continue;
    // Every loss in a drain-proxy scenario, with what the cluster did around it, to tell a proxy bug from the emulation.
    const s = (ms: number): string => `${(ms / 1000).toFixed(2)}s`;
    const around = (from: number, to: number): string => row.result.events
      .filter((event) => event.atMs >= from - 8000 && event.atMs <= to + 1000 && event.kind !== 'created')
      .map((event) => `${s(event.atMs)} ${event.text}`)
      .join('; ');
    for (const outcome of row.result.outcomes.filter((o) => o.kind !== 'ok')) {
      lossLines.push(`${row.result.spec.id}) lost: ${outcome.path} ${outcome.kind} (${outcome.detail}) started ${s(outcome.startedAt)} ended ${s(outcome.endedAt)} ` +
        `${outcome.reusedSocket === true ? 'on a reused keep-alive connection' : 'on a new connection'}; around it: ${around(outcome.startedAt, outcome.endedAt)}`);
    }
    for (const session of [...row.result.webSockets, ...row.result.eventStreams].filter((x) => x.end === 'cut' || x.end === 'connect-failed')) {
      lossLines.push(`${row.result.spec.id}) lost: stream of client ${session.client} ${session.end} at ${s(session.endedAt)}; around it: ${around(session.endedAt, session.endedAt)}`);
    }
  }
  for (const line of lossLines) console.log(`  ${line}`);
  if (write) {
    const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const md = [
      '# Rollout under load: what clients lose, by setup',
      '',
      `Recorded ${date} with \`npm run rollout\` (on a 2-core machine with other work running), written by \`rollout/run.ts\`.`,
      '',
      `Each scenario: ${settings.replicas} replicas rolled ${settings.rollouts} times (maxSurge 1, maxUnavailable 0) behind an emulated`,
      'Service (a TCP load balancer process: each new connection goes round robin to a ready endpoint, open connections stay),',
      `endpoint changes reaching it ${settings.propagationLagMs} ms late; minReadySeconds ${settings.minReadyMs} ms (so a new pod is in the`,
      'Service before an old one goes); readiness probes every 1 s, failureThreshold 3; the legacy demo app exits at once on SIGTERM. Clients through the Service: 4 keep-alive HTTP clients (GET / every 50 ms) plus a',
      '2 s request every 500 ms, 6 WebSocket clients and 3 server-sent event clients, all reconnecting when their stream ends.',
      '',
      '- a) the app alone; b) the app with `preStop: sleep` (shortened here so the run stays short; 10 s is usual);',
      '- d) drain-proxy as a classic sidecar: both containers get `preStop: httpGet /drain?wait=1`, each its SIGTERM after its hook;',
      '- e) drain-proxy as a native sidecar: the hook on the app container, the proxy gets SIGTERM once the app has exited.',
      '',
      markdownTable(rows),
      '',
      '"refused" counts what clients saw; a refused backend connect at the Service reaches the client as a reset (as it would',
      'through a userspace proxy), so the Service\'s own count of refused backend connects is shown beside it. Pod drain time is',
      'from the deletion to the exit of the last container.',
      '',
      '![errors per second during the rollouts](rollout.svg)',
      '',
      `Losses in the drain-proxy scenarios in this run: ${lossLines.length === 0 ? 'none.' : ''}`,
      ...lossLines.map((line) => `- ${line}`),
      '',
      '## Known: the HTTP/1.1 keep-alive close race at drain start',
      '',
      'At t0 drain-proxy closes keep-alive connections that have been idle for `DRAIN_IDLE_CLOSE`. A client that sends a',
      'request on such a connection at that very moment (within the ~1-2 ms the close takes to reach it) gets ECONNRESET:',
      'the request crossed the close. `node rollout/repro-idle-race.ts` reproduces it directly against drain-proxy (no',
      'Service in between): a request on a connection idle 1.1 s, sent 0-2 ms after `GET /drain`, is reset in every try;',
      'sent 5 ms or more after, it goes out on a new connection and succeeds. In `npm run rollout` it shows up as one reset',
      '`/slow` request in roughly one run of two (the 2 s client\'s pool holds connections idle for over a second). HTTP/1.1',
      'leaves this race to clients (RFC 9112 section 9.3.1: retry idempotent requests on a new connection; Go\'s net/http and',
      'browsers do, Node\'s http.Agent does not). Open question for the project: retry in the emulated clients (counted',
      'apart), or narrow the window in drain-proxy.',
      '',
      '## Not yet',
      '',
      'nginx as a sidecar (scenario c), gRPC clients (unary and streaming), the iptables/netns variant of the Service, the',
      'peak reconnect rate per surviving pod against `WS_CLOSE_SPREAD` (the table shows the clients\' peak WebSocket reconnects',
      'per second over the whole Service), and a short variant in `npm test`: `node rollout/run.ts --rollouts 1',
      '--scenarios d,e --lag 1000 --no-write` runs in about 45 s here and exits 1 on any loss, so a test file can spawn it with a',
      '60 s timeout once the race above is settled.',
      '',
      'Settings:',
      '',
      '```json',
      JSON.stringify(settings, null, 2),
      '```',
      '',
    ].join('\n');
    writeFileSync(DOC, md);
    writeFileSync(SVG, svg(rows));
    console.log(`\nwritten: docs/rollout.md, docs/rollout.svg`);
  }
  if (problems.length > 0) {
    console.log('CHECK FAILED:');
    for (const problem of problems) console.log(`  - ${problem}`);
    return 1;
  }
  console.log('CHECK PASSED: the drain-proxy scenarios lost no request, no WebSocket (no 1006), no event stream.');
  return 0;
}
