/**
 * A memory limit as a container has one: a memory cgroup of its own (v1
 * `memory.limit_in_bytes`, or v2 `memory.max`), entered before node starts.
 * Node sizes V8's heap from that limit when the process starts
 * (`uv_get_constrained_memory` in `SetIsolateCreateParamsForNode`), young
 * generation included, so a process measured without one is not measured as
 * a pod runs it. Needs a writable cgroup hierarchy (root here); where there is
 * none, `memoryLimit` answers undefined and the caller says so.
 */
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface MemoryLimit {
  readonly bytes: number;
  /** A `wrap` for startDrainProxy: the shell enters the cgroup, then execs the command, so the pid stays the same. */
  readonly wrap: readonly string[];
  /** Removes the cgroup; the kernel refuses while a process is still in it. */
  remove(): void;
}

function ownCgroupDirectory(): { directory: string; limitFile: string } | undefined {
  const lines = readFileSync('/proc/self/cgroup', 'utf8').split('\n');
  const v1 = lines.map((line) => line.split(':')).find((fields) => fields[1]?.split(',').includes('memory'));
  if (v1 !== undefined) return { directory: join('/sys/fs/cgroup/memory', v1[2]), limitFile: 'memory.limit_in_bytes' };
  const v2 = lines.find((line) => line.startsWith('0::'));
  if (v2 !== undefined) return { directory: join('/sys/fs/cgroup', v2.slice(3)), limitFile: 'memory.max' };
  return undefined;
}

let created = 0;

/** A fresh cgroup limited to `bytes`, or undefined when this machine will not make one. */
export function memoryLimit(bytes: number): MemoryLimit | undefined {
  const own = ownCgroupDirectory();
  if (own === undefined) return undefined;
  const directory = join(own.directory, `drain-proxy-harness-${process.pid}-${created++}`);
  try {
    mkdirSync(directory);
    writeFileSync(join(directory, own.limitFile), String(bytes));
  } catch {
    try {
      rmdirSync(directory);
    } catch {
      // never created
    }
    return undefined;
  }
  return {
    bytes,
    wrap: ['sh', '-c', 'echo $$ > "$0" && exec "$@"', join(directory, 'cgroup.procs')],
    remove: () => rmdirSync(directory),
  };
}
