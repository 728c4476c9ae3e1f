// Figures, verdicts and the docs/benchmarks.md section of the WebSocket part of the bench.
import { median } from './stats.ts';
import { loadNote, markdownTable, perRoundTable, type TargetName } from './report.ts';
import type { WsEchoResult, WsOpenResult } from './ws-load.ts';

export interface WsEchoMeasurement {
  readonly target: TargetName;
  readonly round: number;
  readonly result: WsEchoResult;
  /** CPU of the proxy process tree per round trip; undefined for direct. */
  readonly proxyCpuUsPerRoundTrip: number | undefined;
  readonly appCpuUsPerRoundTrip: number;
  readonly loadCpuUsPerRoundTrip: number;
  /** CPU used by processes other than app, proxy, load generator and the bench, as a share of all CPUs. */
  readonly otherCpuPercent: number;
  readonly stealPercent: number;
}

export interface WsEchoSummary {
  readonly target: TargetName;
  readonly runs: readonly WsEchoMeasurement[];
  readonly roundTripsPerSecond: number;
  readonly p99Ms: number;
  readonly proxyCpuUsPerRoundTrip: number | undefined;
  readonly appCpuUsPerRoundTrip: number;
  /** Median of the per-round ratios to direct's round trips per second (1 for direct). */
  readonly shareOfDirect: number | undefined;
  /** Median of the per-round ratios of proxy CPU per round trip to nginx's. */
  readonly cpuRatioToNginx: number | undefined;
}

export interface WsMemoryMeasurement {
  readonly target: 'nginx' | 'drain-proxy';
  readonly open: WsOpenResult;
  readonly rssBeforeBytes: number;
  readonly rssAfterBytes: number;
  readonly bytesPerConnection: number;
  readonly fdsBefore: number;
  /** Open descriptors of the proxy tree, after minus before: about 2 per proxied WebSocket. */
  readonly fdDelta: number;
  /** Connections that closed before the measurement was taken. */
  readonly lost: number;
  /** What drain-proxy's /metrics said once they were open: WebSockets it counts, and V8's heap. */
  readonly activeWebSockets?: number | undefined;
  readonly heapUsedBeforeBytes?: number | undefined;
  readonly heapUsedAfterBytes?: number | undefined;
}

/** The sidecar layout of the pinned echo measurement: which CPUs each process may run on. */
export interface CpuPlacement {
  /** The load generator and the app, as the pod's other containers and its clients. */
  readonly loadAndAppCpus: readonly number[];
  /** The proxy (nginx's master and worker, or drain-proxy): its own CPU, as a sidecar's CPU request gives it. */
  readonly proxyCpus: readonly number[];
}

export interface WsRunContext {
  readonly date: string;
  readonly command: string;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly kernel: string;
  readonly versions: { readonly node: string; readonly nginx: string; readonly ws: string };
  readonly connections: number;
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly rounds: number;
  readonly messageBytes: number;
  readonly idleConnections: number;
  /** What BENCH_WS_IDLE asked for; more than idleConnections when the open-file limit did not allow it. */
  readonly requestedIdleConnections: number;
  readonly nofileLimit: number;
  readonly sourceAddresses: readonly string[];
  readonly settleSeconds: number;
  /** The pinned echo measurement's layout, or undefined when it was skipped (for `pinnedSkipped`). */
  readonly placement: CpuPlacement | undefined;
  readonly pinnedSkipped: string | undefined;
}

/** The issue's targets. */
export const THROUGHPUT_SHARE_TARGET = 0.9;
export const MEMORY_RATIO_TARGET = 2;

function pairedRatios(
  runs: readonly WsEchoMeasurement[], reference: readonly WsEchoMeasurement[],
  value: (run: WsEchoMeasurement) => number | undefined,
): number[] {
  return runs.flatMap((run) => {
    const other = reference.find((candidate) => candidate.round === run.round);
    const mine = value(run);
    const theirs = other === undefined ? undefined : value(other);
    return mine === undefined || theirs === undefined || theirs === 0 ? [] : [mine / theirs];
  });
}

export function summarizeEcho(targets: readonly TargetName[], measurements: readonly WsEchoMeasurement[]): WsEchoSummary[] {
  const runsOf = (target: TargetName) => measurements.filter((measurement) => measurement.target === target);
  const medianOrUndefined = (values: number[]) => values.length === 0 ? undefined : median(values);
  return targets.map((target) => {
    const runs = runsOf(target);
    const proxyCpu = runs.flatMap((run) => run.proxyCpuUsPerRoundTrip === undefined ? [] : [run.proxyCpuUsPerRoundTrip]);
    return {
      target,
      runs,
      roundTripsPerSecond: median(runs.map((run) => run.result.roundTripsPerSecond)),
      p99Ms: median(runs.map((run) => run.result.p99Ms)),
      proxyCpuUsPerRoundTrip: medianOrUndefined(proxyCpu),
      appCpuUsPerRoundTrip: median(runs.map((run) => run.appCpuUsPerRoundTrip)),
      shareOfDirect: medianOrUndefined(pairedRatios(runs, runsOf('direct'), (run) => run.result.roundTripsPerSecond)),
      cpuRatioToNginx: medianOrUndefined(pairedRatios(runs, runsOf('nginx'), (run) => run.proxyCpuUsPerRoundTrip)),
    };
  });
}

/** Per-round ratios of `target`'s round trips per second to direct's, taken back to back. */
function sharesOfDirect(summaries: readonly WsEchoSummary[], target: TargetName): number[] {
  const runsOf = (name: TargetName) => summaries.find((summary) => summary.target === name)?.runs ?? [];
  return pairedRatios(runsOf(target), runsOf('direct'), (run) => run.result.roundTripsPerSecond);
}

const shareText = (shares: readonly number[]): string =>
  shares.length === 0 ? 'n/a' : `${(median(shares) * 100).toFixed(0)}%`;

/**
 * The ">= 90% of direct" verdict. It rests on the sidecar-CPU measurement when there is one: in a
 * pod the proxy runs on its own CPU request, while on shared cores any proxy's CPU is taken from
 * the app and the load generator. The shared-CPU shares are given beside it.
 */
export function throughputVerdict(
  shared: readonly WsEchoSummary[], pinned: readonly WsEchoSummary[] | undefined, pinnedSkipped?: string,
): string {
  const measured = pinned ?? shared;
  const shares = sharesOfDirect(measured, 'drain-proxy');
  if (shares.length === 0) return 'drain-proxy was not measured: no throughput verdict.';
  const share = median(shares);
  const where = pinned === undefined ? 'on shared CPUs' : 'with a sidecar CPU';
  const sharedNote = pinned === undefined
    ? ` (no sidecar-CPU measurement: ${pinnedSkipped ?? 'skipped'})`
    : `; on shared CPUs: drain-proxy ${shareText(sharesOfDirect(shared, 'drain-proxy'))}, nginx ${shareText(sharesOfDirect(shared, 'nginx'))}`;
  return `${share >= THROUGHPUT_SHARE_TARGET ? 'MET' : 'MISSED'}: ${where}, drain-proxy echoes ${(share * 100).toFixed(0)}% of direct's `
    + `round trips per second (median of per-round ratios; rounds ${shares.map((r) => `${(r * 100).toFixed(0)}%`).join(', ')}; `
    + `target >= ${THROUGHPUT_SHARE_TARGET * 100}%; nginx: ${shareText(sharesOfDirect(measured, 'nginx'))})${sharedNote}.`;
}

export function memoryVerdict(memory: readonly WsMemoryMeasurement[]): string {
  const nginx = memory.find((m) => m.target === 'nginx');
  const drain = memory.find((m) => m.target === 'drain-proxy');
  if (nginx === undefined || drain === undefined) return 'drain-proxy or nginx was not measured: no memory verdict.';
  const ratio = drain.bytesPerConnection / nginx.bytesPerConnection;
  return `${ratio <= MEMORY_RATIO_TARGET ? 'MET' : 'MISSED'}: drain-proxy holds an idle WebSocket in `
    + `${kib(drain.bytesPerConnection)} KiB of RSS, ${ratio.toFixed(2)}x nginx's ${kib(nginx.bytesPerConnection)} KiB `
    + `(at ${drain.open.opened} connections; target <= ${MEMORY_RATIO_TARGET}x).`;
}

const kib = (bytes: number): string => (bytes / 1024).toFixed(1);
const mib = (bytes: number): string => (bytes / 1048576).toFixed(1);
const fixed = (value: number | undefined, digits: number): string =>
  value === undefined || Number.isNaN(value) ? 'n/a' : value.toFixed(digits);
const percent = (value: number | undefined): string => value === undefined ? 'n/a' : `${(value * 100).toFixed(0)}%`;

const ECHO_HEADER = ['target', 'round trips/s', 'share of direct', 'p99 ms', 'proxy CPU µs/round trip', 'ratio to nginx', 'app CPU µs/round trip'];

function echoRows(summaries: readonly WsEchoSummary[]): string[][] {
  return summaries.map((summary) => [
    summary.target,
    fixed(summary.roundTripsPerSecond, 0),
    percent(summary.shareOfDirect),
    fixed(summary.p99Ms, 2),
    fixed(summary.proxyCpuUsPerRoundTrip, 1),
    summary.cpuRatioToNginx === undefined ? 'n/a' : `${summary.cpuRatioToNginx.toFixed(2)}x`,
    fixed(summary.appCpuUsPerRoundTrip, 1),
  ]);
}

const MEMORY_HEADER = ['proxy', 'idle WebSockets', 'RSS before MiB', 'RSS after MiB', 'KiB per WebSocket', 'ratio to nginx', 'descriptors added'];

function memoryRows(memory: readonly WsMemoryMeasurement[]): string[][] {
  const nginx = memory.find((m) => m.target === 'nginx');
  return memory.map((m) => [
    m.target,
    `${m.open.opened}${m.open.failed > 0 ? ` (${m.open.failed} failed)` : ''}${m.lost > 0 ? ` (${m.lost} lost)` : ''}`,
    mib(m.rssBeforeBytes),
    mib(m.rssAfterBytes),
    kib(m.bytesPerConnection),
    nginx === undefined ? 'n/a' : `${(m.bytesPerConnection / nginx.bytesPerConnection).toFixed(2)}x`,
    String(m.fdDelta),
  ]);
}

function consoleTable(header: readonly string[], body: readonly (readonly string[])[]): string {
  const rows = [header, ...body];
  const widths = header.map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows
    .map((row) => row.map((cell, column) => column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column])).join('  '))
    .join('\n');
}

export function echoConsoleTable(summaries: readonly WsEchoSummary[]): string {
  return consoleTable(ECHO_HEADER, echoRows(summaries));
}

export function memoryConsoleTable(memory: readonly WsMemoryMeasurement[]): string {
  return consoleTable(MEMORY_HEADER, memoryRows(memory));
}

function echoRoundCell(run: WsEchoSummary['runs'][number]): string {
  const cpu = run.proxyCpuUsPerRoundTrip ?? run.appCpuUsPerRoundTrip;
  return `${run.result.roundTripsPerSecond.toFixed(0)}/s, ${cpu.toFixed(1)} µs ${loadNote(run)}`;
}

function heapNote(memory: readonly WsMemoryMeasurement[]): string {
  const drain = memory.find((m) => m.target === 'drain-proxy');
  if (drain?.heapUsedBeforeBytes === undefined || drain.heapUsedAfterBytes === undefined) return '';
  const perConnection = (drain.heapUsedAfterBytes - drain.heapUsedBeforeBytes) / Math.max(1, drain.open.opened);
  return `\nFor drain-proxy, its \`/metrics\` counted ${drain.activeWebSockets ?? 'n/a'} open WebSockets, and V8's used heap went from `
    + `${mib(drain.heapUsedBeforeBytes)} to ${mib(drain.heapUsedAfterBytes)} MiB (${kib(perConnection)} KiB per WebSocket, `
    + `garbage not yet collected included); the rest of the RSS growth is heap reserved but not in use, and native memory `
    + `(libuv handles, malloc).\n`;
}

function cappedNote(context: WsRunContext): string {
  if (context.idleConnections >= context.requestedIdleConnections) return '';
  return ` (${context.idleConnections}, not ${context.requestedIdleConnections}: the open-file limit is ${context.nofileLimit} `
    + `and could not be raised, and each proxied WebSocket takes 2 descriptors in the proxy)`;
}

function echoMarkdown(summaries: readonly WsEchoSummary[], context: WsRunContext): string {
  return `${markdownTable(ECHO_HEADER, echoRows(summaries))}

Per round: round trips per second; CPU µs per round trip of the proxy (of the app for \`direct\`); in parentheses, the CPU
that other processes on the machine used meanwhile and the hypervisor's steal, as shares of all ${context.cpus} CPUs:

${perRoundTable(summaries, context.rounds, echoRoundCell)}`;
}

function pinnedMarkdown(context: WsRunContext, pinned: readonly WsEchoSummary[] | undefined): string {
  if (context.placement === undefined || pinned === undefined) {
    return `Skipped: ${context.pinnedSkipped ?? 'not measured'}. The verdict below rests on the shared-CPU figures.`;
  }
  const { loadAndAppCpus, proxyCpus } = context.placement;
  return `Load generator and app pinned to CPU ${loadAndAppCpus.join(',')}, the proxy to CPU ${proxyCpus.join(',')} `
    + `(\`taskset\`, every thread); for \`direct\` CPU ${proxyCpus.join(',')} runs none of them. Same load and rounds as above.

${echoMarkdown(pinned, context)}`;
}

export function webSocketMarkdownSection(
  context: WsRunContext, summaries: readonly WsEchoSummary[], pinned: readonly WsEchoSummary[] | undefined,
  memory: readonly WsMemoryMeasurement[],
): string {
  return `Measured ${context.date} with \`${context.command}\`.

- Machine: ${context.cpus} CPUs (${context.cpuModel}), Linux ${context.kernel}
- Versions: Node ${context.versions.node}, nginx ${context.versions.nginx}, ws ${context.versions.ws} (echo app)
- Echo load: ${context.connections} WebSockets, each doing ping-pong round trips of one ${context.messageBytes}-byte text message, `
    + `${context.durationSeconds} s measured after a ${context.warmupSeconds} s warm-up on the same connections, `
    + `${context.rounds} rounds in rotating order; each figure is the median over the rounds
- Idle memory: ${context.idleConnections} WebSockets opened through each proxy (clients bound to ${context.sourceAddresses.join(', ')}), `
    + `RSS of the proxy's process tree from \`/proc\` ${context.settleSeconds} s before and ${context.settleSeconds} s after opening them${cappedNote(context)}

**${throughputVerdict(summaries, pinned, context.pinnedSkipped)}**

### Echo with a sidecar CPU

${pinnedMarkdown(context, pinned)}

### Echo on shared CPUs

Load generator, app and proxy wherever the scheduler puts them, on all ${context.cpus} CPUs.

${echoMarkdown(summaries, context)}

### Idle memory

${markdownTable(MEMORY_HEADER, memoryRows(memory))}

**${memoryVerdict(memory)}**
${heapNote(memory)}`;
}

export const WS_SECTION = {
  begin: '<!-- bench-websocket-results:begin (rewritten by npm run bench) -->',
  end: '<!-- bench-websocket-results:end -->',
  heading: 'Latest WebSocket run',
} as const;
