// CPU affinity for the bench's "sidecar CPU" measurement: which CPUs this process may use, and
// `taskset` to move a running process tree (every thread of every process) onto a set of them.
import { readFileSync } from 'node:fs';
import { run } from '../harness/processes.ts';
import { processTree } from './memory.ts';

/** The CPUs this process may run on (`Cpus_allowed_list` of /proc/self/status, e.g. `0-1,4`), in order. */
export function allowedCpus(): number[] {
  const match = /^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  if (match === null) return [];
  return match[1].split(',').flatMap((range) => {
    const [first, last = first] = range.split('-').map(Number);
    return Array.from({ length: last - first + 1 }, (_, index) => first + index);
  });
}

/** Whether `taskset` (util-linux) can be run. */
export async function tasksetAvailable(): Promise<boolean> {
  try {
    const probe = await run('taskset', ['-c', '0', 'true'], { allowFailure: true, timeoutMs: 5000 });
    return probe.code === 0;
  } catch {
    return false;
  }
}

export const cpuList = (cpus: readonly number[]): string => cpus.join(',');

/**
 * Puts every thread of `rootPid` and its descendants (nginx's master and worker; node's main,
 * V8 and libuv threads) on `cpus`. Threads started later inherit it from the thread that starts them.
 */
export async function pinProcessTree(rootPid: number, cpus: readonly number[]): Promise<void> {
  for (const pid of processTree(rootPid)) {
    await run('taskset', ['-a', '-p', '-c', cpuList(cpus), String(pid)], { timeoutMs: 5000 });
  }
}

/** `command args` prefixed so that it starts on `cpus` only. */
export function onCpus(cpus: readonly number[], command: string, args: readonly string[]): [string, string[]] {
  return ['taskset', ['-c', cpuList(cpus), command, ...args]];
}
