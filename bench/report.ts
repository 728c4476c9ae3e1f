import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { median } from './stats.ts';
import type { WrkResult } from './wrk.ts';

export type TargetName = 'direct' | 'nginx' | 'drain-proxy';

export interface Measurement {
  readonly target: TargetName;
  readonly round: number;
  readonly wrk: WrkResult;
  /** CPU of the proxy process tree per request; undefined for the direct target. */
  readonly proxyCpuUsPerRequest: number | undefined;
  readonly appCpuUsPerRequest: number;
  /** CPU used by processes other than app, proxy, wrk and the bench, as a share of all CPUs. */
  readonly otherCpuPercent: number;
  /** Share of all CPUs taken by the hypervisor for other guests. */
  readonly stealPercent: number;
}

export interface TargetSummary {
  readonly target: TargetName;
  readonly runs: readonly Measurement[];
  readonly requestsPerSecond: number;
  readonly p99Ms: number;
  readonly proxyCpuUsPerRequest: number | undefined;
  readonly appCpuUsPerRequest: number;
  /** Median proxy CPU per request relative to nginx's; undefined when either is missing. */
  readonly cpuRatioToNginx: number | undefined;
}

export interface RunContext {
  readonly date: string;
  readonly command: string;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly kernel: string;
  readonly versions: { readonly node: string; readonly nginx: string; readonly wrk: string };
  readonly connections: number;
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly rounds: number;
  readonly bodyBytes: number;
}

/** The target: drain-proxy's CPU per request at most 1.5x nginx's. */
export const CPU_RATIO_TARGET = 1.5;

export function summarize(targets: readonly TargetName[], measurements: readonly Measurement[]): TargetSummary[] {
  const perTarget = targets.map((target) => {
    const runs = measurements.filter((measurement) => measurement.target === target);
    const proxyCpu = runs.flatMap((run) => run.proxyCpuUsPerRequest === undefined ? [] : [run.proxyCpuUsPerRequest]);
    return {
      target,
      runs,
      requestsPerSecond: median(runs.map((run) => run.wrk.requestsPerSecond)),
      p99Ms: median(runs.map((run) => run.wrk.p99Ms)),
      proxyCpuUsPerRequest: proxyCpu.length === 0 ? undefined : median(proxyCpu),
      appCpuUsPerRequest: median(runs.map((run) => run.appCpuUsPerRequest)),
    };
  });
  const nginxCpu = perTarget.find((summary) => summary.target === 'nginx')?.proxyCpuUsPerRequest;
  return perTarget.map((summary) => ({
    ...summary,
    cpuRatioToNginx: summary.proxyCpuUsPerRequest === undefined || nginxCpu === undefined
      ? undefined
      : summary.proxyCpuUsPerRequest / nginxCpu,
  }));
}

/**
 * drain-proxy's CPU per request over nginx's, round by round: the two ran back
 * to back, so a round's ratio is less exposed to the machine's speed drifting
 * (other guests on the host) than a ratio of medians taken across rounds.
 */
export function pairedRatios(summaries: readonly TargetSummary[]): number[] {
  const runs = (target: TargetName) => summaries.find((summary) => summary.target === target)?.runs ?? [];
  return runs('drain-proxy').flatMap((run) => {
    const nginx = runs('nginx').find((other) => other.round === run.round)?.proxyCpuUsPerRequest;
    return run.proxyCpuUsPerRequest === undefined || nginx === undefined ? [] : [run.proxyCpuUsPerRequest / nginx];
  });
}

/** The verdict rests on the median of the per-round ratios. */
export function verdict(summaries: readonly TargetSummary[]): string {
  const ratios = pairedRatios(summaries);
  if (ratios.length === 0) return 'drain-proxy was not measured: no verdict.';
  const ratio = median(ratios);
  const met = ratio <= CPU_RATIO_TARGET;
  return `${met ? 'MET' : 'MISSED'}: drain-proxy uses ${ratio.toFixed(2)}x nginx's CPU per request `
    + `(median of per-round ratios; rounds ${ratios.map((r) => r.toFixed(2)).join(', ')}; target <= ${CPU_RATIO_TARGET}x).`;
}

const fixed = (value: number | undefined, digits: number): string =>
  value === undefined || Number.isNaN(value) ? 'n/a' : value.toFixed(digits);

const HEADER = ['target', 'req/s', 'p99 ms', 'proxy CPU µs/req', 'ratio to nginx', 'app CPU µs/req'];

function tableRows(summaries: readonly TargetSummary[]): string[][] {
  return summaries.map((summary) => [
    summary.target,
    fixed(summary.requestsPerSecond, 0),
    fixed(summary.p99Ms, 2),
    fixed(summary.proxyCpuUsPerRequest, 1),
    summary.cpuRatioToNginx === undefined ? 'n/a' : `${summary.cpuRatioToNginx.toFixed(2)}x`,
    fixed(summary.appCpuUsPerRequest, 1),
  ]);
}

export function consoleTable(summaries: readonly TargetSummary[]): string {
  const rows = [HEADER, ...tableRows(summaries)];
  const widths = HEADER.map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows
    .map((row) => row.map((cell, column) => column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column])).join('  '))
    .join('\n');
}

export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  const alignment = header.map((_, column) => column === 0 ? '---' : '---:');
  return [line(header), line(alignment), ...rows.map(line)].join('\n');
}

/** One row per target, one column per round; `cell` says what a run shows. */
export function perRoundTable<Run extends { readonly round: number }>(
  summaries: readonly { readonly target: string; readonly runs: readonly Run[] }[],
  rounds: number,
  cell: (run: Run) => string,
): string {
  const header = ['target', ...Array.from({ length: rounds }, (_, index) => `round ${index + 1}`)];
  const rows = summaries.map((summary) => [
    summary.target,
    ...Array.from({ length: rounds }, (_, index) => {
      const run = summary.runs.find((measurement) => measurement.round === index + 1);
      return run === undefined ? 'n/a' : cell(run);
    }),
  ]);
  return markdownTable(header, rows);
}

/** The machine's other load during a run, so that an odd round can be explained. */
export function loadNote(run: { readonly otherCpuPercent: number; readonly stealPercent: number }): string {
  return `(other ${run.otherCpuPercent.toFixed(0)}%, steal ${run.stealPercent.toFixed(0)}%)`;
}

function httpRoundCell(run: Measurement): string {
  const cpu = run.proxyCpuUsPerRequest ?? run.appCpuUsPerRequest;
  return `${run.wrk.requestsPerSecond.toFixed(0)} req/s, ${cpu.toFixed(1)} µs ${loadNote(run)}`;
}

export function markdownSection(context: RunContext, summaries: readonly TargetSummary[]): string {
  return `Measured ${context.date} with \`${context.command}\`.

- Machine: ${context.cpus} CPUs (${context.cpuModel}), Linux ${context.kernel}
- Versions: Node ${context.versions.node}, nginx ${context.versions.nginx}, wrk ${context.versions.wrk}
- Load: \`wrk -t1 -c${context.connections} -d${context.durationSeconds}s --latency\` after a ${context.warmupSeconds} s warm-up, `
    + `${context.bodyBytes}-byte response bodies, ${context.rounds} rounds in rotating order; each figure is the median over the rounds

${markdownTable(HEADER, tableRows(summaries))}

**${verdict(summaries)}**

Per round: req/s; CPU µs per request of the proxy (of the app for \`direct\`); in parentheses, the CPU
that other processes on the machine used meanwhile and the hypervisor's steal, as shares of all ${context.cpus} CPUs:

${perRoundTable(summaries, context.rounds, httpRoundCell)}
`;
}

export const SECTION_BEGIN = '<!-- bench-results:begin (rewritten by npm run bench) -->';
export const SECTION_END = '<!-- bench-results:end -->';

export interface SectionMarkers {
  readonly begin: string;
  readonly end: string;
  /** The heading put above the section when the doc does not have it yet. */
  readonly heading: string;
}

const HTTP_SECTION: SectionMarkers = { begin: SECTION_BEGIN, end: SECTION_END, heading: 'Latest run' };

/** Replaces the marked results section of the doc, leaving the hand-written text around it alone. */
export function writeResultsSection(docPath: string, section: string, markers: SectionMarkers = HTTP_SECTION): void {
  const block = `${markers.begin}\n${section}${markers.end}`;
  if (!existsSync(docPath)) {
    mkdirSync(dirname(docPath), { recursive: true });
    writeFileSync(docPath, `# Benchmarks\n\n## ${markers.heading}\n\n${block}\n`);
    return;
  }
  const text = readFileSync(docPath, 'utf8');
  const begin = text.indexOf(markers.begin);
  const end = text.indexOf(markers.end);
  const updated = begin === -1 || end === -1 || end < begin
    ? `${text.trimEnd()}\n\n## ${markers.heading}\n\n${block}\n`
    : text.slice(0, begin) + block + text.slice(end + markers.end.length);
  writeFileSync(docPath, updated);
}
