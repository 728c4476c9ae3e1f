/**
 * What /proc says about processes and the machine: CPU time and memory of a
 * process tree (a proxy and the workers it starts), its open descriptors, the
 * machine's busy and stolen CPU, this process's CPUs and open-file limit. The
 * parsers take the files' text, so they can be checked without /proc.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

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

export interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  /** utime + stime + cutime + cstime, in clock ticks: reaped children count, so a worker that exits mid-run is not lost. */
  readonly ticks: number;
}

/** /proc/PID/stat. The command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'. */
export function parseStat(pid: number, text: string): ProcStat {
  const afterName = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // afterName[0] is field 3 (state); field N is afterName[N - 3].
  const field = (n: number): number => Number(afterName[n - 3]);
  return { pid, ppid: field(4), ticks: field(14) + field(15) + field(16) + field(17) };
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function allStats(): ProcStat[] {
  return readdirSync('/proc').flatMap((entry) => {
    const text = /^\d+$/.test(entry) ? readText(`/proc/${entry}/stat`) : undefined;
    return text === undefined ? [] : [parseStat(Number(entry), text)];
  });
}

/** `rootPid` and its live descendants (nginx's master and workers); empty when `rootPid` is gone. */
export function processTree(rootPid: number, stats: readonly ProcStat[] = allStats()): ProcStat[] {
  const root = stats.find((stat) => stat.pid === rootPid);
  const tree = root === undefined ? [] : [root];
  for (let index = 0; index < tree.length; index++) tree.push(...stats.filter((stat) => stat.ppid === tree[index].pid));
  return tree;
}

function liveTree(rootPid: number): ProcStat[] {
  const tree = processTree(rootPid);
  if (tree.length === 0) throw new Error(`process ${rootPid} is gone`);
  return tree;
}

/** CPU seconds used so far by a process tree. */
export function treeCpuSeconds(rootPid: number): number {
  return liveTree(rootPid).reduce((sum, stat) => sum + stat.ticks, 0) / clockTicksPerSecond;
}

/** CPU seconds of this process and its reaped children (the bench itself and every load tool run that has ended). */
export function ownCpuSeconds(): number {
  return parseStat(process.pid, readFileSync('/proc/self/stat', 'utf8')).ticks / clockTicksPerSecond;
}

export interface Memory {
  /** VmRSS: resident memory, file pages shared with other processes (the node binary) included. */
  readonly rssBytes: number;
  /** RssAnon: private memory, what the process alone costs a node. */
  readonly anonBytes: number;
  /** RssFile: resident file pages. */
  readonly fileBytes: number;
  /** VmHWM: the highest VmRSS so far. */
  readonly peakBytes: number;
}

/** VmRSS, RssAnon, RssFile and VmHWM of /proc/PID/status (0 when absent, as for a zombie). */
export function parseStatus(text: string): Memory {
  const kib = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
  return { rssBytes: kib('VmRSS'), anonBytes: kib('RssAnon'), fileBytes: kib('RssFile'), peakBytes: kib('VmHWM') };
}

/** The memory of a process tree, summed. */
export function treeMemory(rootPid: number): Memory {
  const parts = liveTree(rootPid).map((stat) => parseStatus(readText(`/proc/${stat.pid}/status`) ?? ''));
  const sum = (pick: (memory: Memory) => number): number => parts.reduce((total, memory) => total + pick(memory), 0);
  return { rssBytes: sum((m) => m.rssBytes), anonBytes: sum((m) => m.anonBytes), fileBytes: sum((m) => m.fileBytes), peakBytes: sum((m) => m.peakBytes) };
}

/** Open descriptors of a process tree (each proxied connection holds two). */
export function openFds(rootPid: number): number {
  return processTree(rootPid).reduce((count, stat) => {
    try {
      return count + readdirSync(`/proc/${stat.pid}/fd`).length;
    } catch {
      return count; // gone meanwhile
    }
  }, 0);
}

export interface MachineCpu {
  /** Seconds of CPU spent running something, summed over all CPUs. */
  readonly busySeconds: number;
  /** Seconds the hypervisor gave our virtual CPUs to someone else. */
  readonly stealSeconds: number;
}

/** The `cpu` line of /proc/stat. */
export function parseMachineCpu(text: string): MachineCpu {
  const line = text.split('\n').find((candidate) => candidate.startsWith('cpu '));
  if (line === undefined) throw new Error('/proc/stat has no cpu line');
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return { busySeconds: (user + nice + system + irq + softirq) / clockTicksPerSecond, stealSeconds: (steal ?? 0) / clockTicksPerSecond };
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
  const treeSeconds = (): Record<Name, number> =>
    Object.fromEntries(names.map((name) => [name, trees[name] === undefined ? 0 : treeCpuSeconds(trees[name])])) as Record<Name, number>;
  const machine = (): MachineCpu => parseMachineCpu(readFileSync('/proc/stat', 'utf8'));
  const before = treeSeconds();
  const ownBefore = ownCpuSeconds();
  const machineBefore = machine();
  const wallBefore = performance.now();
  return () => {
    const machineSeconds = (performance.now() - wallBefore) / 1000 * availableParallelism();
    const machineAfter = machine();
    const after = treeSeconds();
    const seconds = Object.fromEntries(names.map((name) => [name, after[name] - before[name]])) as Record<Name, number>;
    const measured = ownCpuSeconds() - ownBefore + names.reduce((sum, name) => sum + seconds[name], 0);
    return {
      seconds,
      otherCpuPercent: Math.max(0, (machineAfter.busySeconds - machineBefore.busySeconds - measured) / machineSeconds * 100),
      stealPercent: (machineAfter.stealSeconds - machineBefore.stealSeconds) / machineSeconds * 100,
    };
  };
}

/** A CPU list such as `0-1,4` (`Cpus_allowed_list`), in order. */
export function parseCpuList(text: string): number[] {
  return text.split(',').filter((range) => range !== '').flatMap((range) => {
    const [first, last = first] = range.split('-').map(Number);
    return Array.from({ length: last - first + 1 }, (_, index) => first + index);
  });
}

/** The CPUs this process may run on. */
export function allowedCpus(): number[] {
  return parseCpuList(/^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '');
}

/** The hard open-file limit of this process (`Max open files` of /proc/self/limits). */
export function hardNofileLimit(): number {
  const match = /^Max open files\s+\S+\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return match === null || match[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(match[1]);
}

/**
 * Proxied connections that fit in a proxy under an open-file limit: two descriptors each, besides its own (listeners,
 * stdio, epoll, logs: about 25 for drain-proxy) with room to spare: with 128, drain-proxy once reset the last 32 of 9,936.
 */
export const connectionsFitting = (nofileLimit: number): number => Math.floor((nofileLimit - 256) / 2);

export function cpuModel(): string {
  return /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1].trim() ?? 'unknown CPU';
}
