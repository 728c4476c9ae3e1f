import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { execFileSync } from 'node:child_process';

/** Kernel clock ticks per second, the unit of utime/stime in /proc/PID/stat. */
export const clockTicksPerSecond: number = (() => {
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    if (Number.isFinite(value) && value > 0) return value;
  } catch {
    // getconf missing: Linux has used 100 on every mainstream architecture.
  }
  return 100;
})();

interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  /** utime + stime + cutime + cstime, in clock ticks. */
  readonly ticks: number;
}

function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses; fields are counted after its last ')'.
  const afterName = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // afterName[0] is field 3 (state); field N is afterName[N - 3].
  const field = (n: number): number => Number(afterName[n - 3]);
  return {
    pid,
    ppid: field(4),
    // cutime/cstime count children already reaped, so a worker that exits mid-run is not lost.
    ticks: field(14) + field(15) + field(16) + field(17),
  };
}

function allProcStats(): ProcStat[] {
  const stats: ProcStat[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(Number(entry));
    if (stat !== undefined) stats.push(stat);
  }
  return stats;
}

/** CPU seconds used so far by `rootPid` and all its live descendants (nginx master + workers). */
export function processTreeCpuSeconds(rootPid: number): number {
  const stats = allProcStats();
  const childrenOf = new Map<number, ProcStat[]>();
  for (const stat of stats) {
    const siblings = childrenOf.get(stat.ppid) ?? [];
    siblings.push(stat);
    childrenOf.set(stat.ppid, siblings);
  }
  const root = stats.find((stat) => stat.pid === rootPid);
  if (root === undefined) throw new Error(`process ${rootPid} is gone`);
  let ticks = 0;
  const pending = [root];
  while (pending.length > 0) {
    const stat = pending.pop()!;
    ticks += stat.ticks;
    pending.push(...(childrenOf.get(stat.pid) ?? []));
  }
  return ticks / clockTicksPerSecond;
}

/** CPU seconds of this process plus its reaped children: the bench itself and every finished wrk run. */
export function ownCpuSeconds(): number {
  const stat = readProcStat(process.pid);
  if (stat === undefined) throw new Error('cannot read /proc/self/stat');
  return stat.ticks / clockTicksPerSecond;
}

export interface MachineCpu {
  /** Seconds of CPU spent running something, summed over all CPUs. */
  readonly busySeconds: number;
  /** Seconds the hypervisor gave our virtual CPUs to someone else. */
  readonly stealSeconds: number;
}

/** Machine-wide CPU time from /proc/stat, to tell how much else was running during a measurement. */
export function machineCpu(): MachineCpu {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((text) => text.startsWith('cpu '));
  if (line === undefined) throw new Error('/proc/stat has no cpu line');
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return {
    busySeconds: (user + nice + system + irq + softirq) / clockTicksPerSecond,
    stealSeconds: (steal ?? 0) / clockTicksPerSecond,
  };
}

/** What a measurement window used: CPU seconds per measured process tree, and the rest of the machine's load. */
export interface CpuWindow<Name extends string> {
  readonly seconds: Record<Name, number>;
  /** CPU that other processes used meanwhile, as a share of all CPUs (this process's own is accounted for). */
  readonly otherCpuPercent: number;
  /** The hypervisor's steal, as a share of all CPUs. */
  readonly stealPercent: number;
}

/**
 * Starts a measurement window over the process trees given by root pid
 * (undefined: nothing to measure, counted as 0); the returned function ends it.
 * Whatever else ran on the machine meanwhile explains a round that stands out.
 */
export function startCpuWindow<Name extends string>(trees: Record<Name, number | undefined>): () => CpuWindow<Name> {
  const names = Object.keys(trees) as Name[];
  const treeSeconds = (): Record<Name, number> => {
    const seconds = {} as Record<Name, number>;
    for (const name of names) seconds[name] = trees[name] === undefined ? 0 : processTreeCpuSeconds(trees[name]);
    return seconds;
  };
  const before = treeSeconds();
  const ownBefore = ownCpuSeconds();
  const machineBefore = machineCpu();
  const wallBefore = performance.now();
  return () => {
    const machineSeconds = (performance.now() - wallBefore) / 1000 * availableParallelism();
    const machineAfter = machineCpu();
    const after = treeSeconds();
    const seconds = {} as Record<Name, number>;
    let measured = ownCpuSeconds() - ownBefore;
    for (const name of names) {
      seconds[name] = after[name] - before[name];
      measured += seconds[name];
    }
    return {
      seconds,
      otherCpuPercent: Math.max(0, (machineAfter.busySeconds - machineBefore.busySeconds - measured) / machineSeconds * 100),
      stealPercent: (machineAfter.stealSeconds - machineBefore.stealSeconds) / machineSeconds * 100,
    };
  };
}
