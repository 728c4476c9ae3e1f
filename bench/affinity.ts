// CPU affinity for the bench's "sidecar CPU" measurement: `taskset` to move a running process tree
// (every thread of every process) onto a set of CPUs.
import { processTree } from '../harness/proc.ts';
import { run } from '../harness/processes.ts';

/** Whether `taskset` (util-linux) can be run. */
export function tasksetAvailable(): Promise<boolean> {
  return run('taskset', ['-c', '0', 'true'], { allowFailure: true, timeoutMs: 5000 }).then((probe) => probe.code === 0, () => false);
}

export const cpuList = (cpus: readonly number[]): string => cpus.join(',');

/**
 * Puts every thread of `rootPid` and its descendants (nginx's master and worker; node's main,
 * V8 and libuv threads) on `cpus`. Threads started later inherit it from the thread that starts them.
 */
export async function pinProcessTree(rootPid: number, cpus: readonly number[]): Promise<void> {
  for (const { pid } of processTree(rootPid)) {
    await run('taskset', ['-a', '-p', '-c', cpuList(cpus), String(pid)], { timeoutMs: 5000 });
  }
}

/** `command args` prefixed so that it starts on `cpus` only. */
export function onCpus(cpus: readonly number[], command: string, args: readonly string[]): [string, string[]] {
  return ['taskset', ['-c', cpuList(cpus), command, ...args]];
}
