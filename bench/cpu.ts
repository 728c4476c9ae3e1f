import { readdirSync, readFileSync } from 'node:fs';
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
