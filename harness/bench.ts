/**
 * How a bench section measures targets against each other: every target once per round, the
 * order rotated each round so that a slow stretch of a shared machine is spread over all of
 * them; in each run the CPU of the proxy's and the app's process trees (and of a load generator
 * of our own) per operation, beside the rest of the machine's load; medians over the rounds, and
 * ratios taken round by round between targets that ran back to back.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startCpuWindow } from './proc.ts';
import { consoleTable, markdownTable } from './tables.ts';

export interface BenchTarget {
  readonly name: string;
  /** The proxy, whose process tree's CPU is charged to it; undefined for the app reached directly. */
  readonly proxyPid: number | undefined;
}

/** What a load tool reports about one run. */
export interface ToolResult {
  /** Requests or round trips completed, and per second. */
  readonly operations: number;
  readonly perSecond: number;
  /** The latency the tool reports: p99, or h2load's mean. */
  readonly latencyMs: number;
  /** Failed operations: error statuses, socket errors, wrong echoes. */
  readonly errors: number;
}

export interface BenchRun extends ToolResult {
  readonly target: string;
  readonly round: number;
  /** CPU µs per operation: the proxy's (undefined for direct), the app's, and the load generator's when it is measured. */
  readonly proxyCpuUs: number | undefined;
  readonly appCpuUs: number;
  readonly loadCpuUs?: number;
  /** CPU used by other processes meanwhile, and the hypervisor's steal, as shares of all CPUs. */
  readonly otherCpuPercent: number;
  readonly stealPercent: number;
}

/** The words a section's figures are given in. */
export interface BenchUnits {
  /** 'req/s', 'round trips/s'. */
  readonly rate: string;
  /** 'p99', 'mean'. */
  readonly latency: string;
  /** 'req', 'round trip'. */
  readonly operation: string;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** The median, or undefined for no values. */
export function medianOf(values: readonly number[]): number | undefined {
  return values.length === 0 ? undefined : median(values);
}

/**
 * `value` of each run over `value` of the reference run of the same round: the two ran back to
 * back, so a round's ratio is less exposed to the machine's speed drifting than a ratio of medians.
 */
export function pairedRatios<Run extends { readonly round: number }>(
  runs: readonly Run[], reference: readonly Run[], value: (run: Run) => number | undefined,
): number[] {
  return runs.flatMap((run) => {
    const other = reference.find((candidate) => candidate.round === run.round);
    const mine = value(run);
    const theirs = other === undefined ? undefined : value(other);
    return mine === undefined || theirs === undefined || theirs === 0 ? [] : [mine / theirs];
  });
}

/** Runs `work` (the measured part of a run) in a CPU window over the target's proxy, the app and a load generator. */
export async function measureRun(
  target: BenchTarget, round: number, appPid: number, work: () => Promise<ToolResult>, loadPid?: number,
): Promise<BenchRun> {
  const endWindow = startCpuWindow({ proxy: target.proxyPid, app: appPid, load: loadPid });
  const result = await work();
  const { seconds, otherCpuPercent, stealPercent } = endWindow();
  if (result.operations === 0) throw new Error(`${target.name}: no operation completed in round ${round}`);
  const perOperation = (cpuSeconds: number): number => cpuSeconds * 1e6 / result.operations;
  return {
    target: target.name,
    round,
    operations: result.operations,
    perSecond: result.perSecond,
    latencyMs: result.latencyMs,
    errors: result.errors,
    proxyCpuUs: target.proxyPid === undefined ? undefined : perOperation(seconds.proxy),
    appCpuUs: perOperation(seconds.app),
    ...(loadPid === undefined ? {} : { loadCpuUs: perOperation(seconds.load) }),
    otherCpuPercent,
    stealPercent,
  };
}

/** The CPU a run is charged: the proxy's, or the app's for direct. */
export const chargedCpuUs = (run: BenchRun): number => run.proxyCpuUs ?? run.appCpuUs;

/**
 * `rounds` rounds over `targets`, rotating the order each round, one console line per run; a pause
 * after each lets the proxy's idle connections and the kernel settle before the next warm-up.
 */
export async function rotatingRounds<Target extends BenchTarget>(
  targets: readonly Target[], rounds: number, units: BenchUnits, measure: (target: Target, round: number) => Promise<BenchRun>,
): Promise<BenchRun[]> {
  const width = Math.max(...targets.map((target) => target.name.length)) + 1;
  const runs: BenchRun[] = [];
  for (let round = 1; round <= rounds; round += 1) {
    const rotation = (round - 1) % targets.length;
    for (const target of [...targets.slice(rotation), ...targets.slice(0, rotation)]) {
      const run = await measure(target, round);
      runs.push(run);
      if (run.errors > 0) console.warn(`  warning: ${target.name} had ${run.errors} failed ${units.operation}s in round ${round}`);
      console.log(`round ${round}  ${target.name.padEnd(width)} ${run.perSecond.toFixed(0).padStart(7)} ${units.rate}  `
        + `${units.latency} ${run.latencyMs.toFixed(2).padStart(6)} ms  ${chargedCpuUs(run).toFixed(1).padStart(5)} µs CPU/${units.operation} `
        + `(${run.proxyCpuUs === undefined ? 'app  ' : 'proxy'})  ${run.loadCpuUs === undefined ? '' : `load gen ${run.loadCpuUs.toFixed(1)} µs, `}`
        + `other load ${run.otherCpuPercent.toFixed(0)}%, steal ${run.stealPercent.toFixed(0)}%`);
      await sleep(500);
    }
  }
  return runs;
}

/**
 * `rotatingRounds` of a load tool, announced with how long they will take: in each run `load` warms the target up
 * for `warmupSeconds` (no round), then loads it for `durationSeconds` in a CPU window over its proxy and the app.
 */
export function loadRounds<Target extends BenchTarget>(
  title: string, targets: readonly Target[], rounds: number, units: BenchUnits,
  run: { readonly appPid: number; readonly warmupSeconds: number; readonly durationSeconds: number; readonly command: string },
  load: (target: Target, seconds: number, round?: number) => Promise<ToolResult>,
): Promise<BenchRun[]> {
  const perRun = run.warmupSeconds + run.durationSeconds;
  console.log(`\n${title}: ${targets.length} targets x ${rounds} rounds x ${perRun} s `
    + `(about ${Math.ceil(targets.length * rounds * (perRun + 0.5) / 60)} min), ${run.command}\n`);
  return rotatingRounds(targets, rounds, units, async (target, round) => {
    await load(target, run.warmupSeconds);
    return measureRun(target, round, run.appPid, () => load(target, run.durationSeconds, round));
  });
}

export interface BenchSummary {
  readonly target: string;
  readonly runs: readonly BenchRun[];
  /** Medians over the rounds. */
  readonly perSecond: number;
  readonly latencyMs: number;
  readonly proxyCpuUs: number | undefined;
  readonly appCpuUs: number;
  readonly errors: number;
}

export function summarize(targets: readonly BenchTarget[], runs: readonly BenchRun[]): BenchSummary[] {
  return targets.map(({ name }) => {
    const mine = runs.filter((run) => run.target === name);
    return {
      target: name,
      runs: mine,
      perSecond: median(mine.map((run) => run.perSecond)),
      latencyMs: median(mine.map((run) => run.latencyMs)),
      proxyCpuUs: medianOf(mine.flatMap((run) => (run.proxyCpuUs === undefined ? [] : [run.proxyCpuUs]))),
      appCpuUs: median(mine.map((run) => run.appCpuUs)),
      errors: mine.reduce((sum, run) => sum + run.errors, 0),
    };
  });
}

/** The runs of `target`. */
export function runsOf(summaries: readonly BenchSummary[], target: string): readonly BenchRun[] {
  return summaries.find((summary) => summary.target === target)?.runs ?? [];
}

/** The machine's other load during a run, so that an odd round can be explained. */
export function loadNote(run: { readonly otherCpuPercent: number; readonly stealPercent: number }): string {
  return `(other ${run.otherCpuPercent.toFixed(0)}%, steal ${run.stealPercent.toFixed(0)}%)`;
}

/**
 * One row per target, one column per round: its rate and charged CPU per operation, with the
 * machine's other load, introduced by the paragraph that says so.
 */
export function perRoundTable(summaries: readonly BenchSummary[], rounds: number, units: BenchUnits, cpus: number, rateSuffix = '/s'): string {
  const header = ['target', ...Array.from({ length: rounds }, (_, index) => `round ${index + 1}`)];
  const rows = summaries.map((summary) => [summary.target, ...Array.from({ length: rounds }, (_, index) => {
    const run = summary.runs.find((candidate) => candidate.round === index + 1);
    return run === undefined ? 'n/a' : `${run.perSecond.toFixed(0)}${rateSuffix}, ${chargedCpuUs(run).toFixed(1)} µs ${loadNote(run)}`;
  })]);
  const per = units.operation === 'req' ? 'request' : units.operation;
  return `Per round: ${units.rate === 'req/s' ? 'req/s' : `${units.operation}s per second`}; CPU µs per ${per} of the proxy (of the app for \`direct\`); in parentheses, the CPU
that other processes on the machine used meanwhile and the hypervisor's steal, as shares of all ${cpus} CPUs:

${markdownTable(header, rows)}`;
}

/**
 * Prints a section's medians and its verdict lines; returns them as the tail of its record: the table, the
 * verdicts in bold (a list when there are several) and the per-round table.
 */
export function reportMedians(
  title: string, context: { readonly rounds: number; readonly cpus: number }, units: BenchUnits, summaries: readonly BenchSummary[],
  header: readonly string[], rows: readonly (readonly string[])[], verdicts: readonly string[], rateSuffix?: string,
): string {
  console.log(`\n${title}, medians over ${context.rounds} rounds:\n${consoleTable(header, rows)}\n\n${verdicts.join('\n')}`);
  const bold = verdicts.length === 1 ? `**${verdicts[0]}**` : verdicts.map((line) => `- **${line}**`).join('\n');
  return `${markdownTable(header, rows)}\n\n${bold}\n\n${perRoundTable(summaries, context.rounds, units, context.cpus, rateSuffix)}\n`;
}
