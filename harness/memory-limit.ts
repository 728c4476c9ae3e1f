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
import { parse } from 'yaml';
import { parseMemoryLimit } from '../src/config/schema.ts';

export interface MemoryLimit {
  /** A `wrap` for startDrainProxy: the shell enters the cgroup, then execs the command, so the pid stays the same. */
  readonly wrap: readonly string[];
  /** Removes the cgroup, or answers false: the kernel refuses while a process is still in it. Tried at exit too. */
  remove(): boolean;
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
  const remove = (): boolean => {
    try {
      rmdirSync(directory);
      return true;
    } catch {
      return false;
    }
  };
  process.once('exit', remove);
  return { wrap: ['sh', '-c', 'echo $$ > "$0" && exec "$@"', join(directory, 'cgroup.procs')], remove };
}

const CHART_VALUES = new URL('../charts/drain-proxy/values.yaml', import.meta.url);

/** The chart's default `resources.limits.memory`, as written there and in bytes. */
export function chartMemoryLimit(): { readonly text: string; readonly bytes: number } {
  const values = parse(readFileSync(CHART_VALUES, 'utf8')) as { resources?: { limits?: { memory?: string } } };
  const text = String(values.resources?.limits?.memory);
  const bytes = parseMemoryLimit(text);
  if (typeof bytes !== 'number' || bytes === 0) throw new Error(`${CHART_VALUES.pathname} sets no resources.limits.memory`);
  return { text, bytes };
}

/** What Node gives a process in a 256 MiB container, for a machine where no memory cgroup can be made. */
const LIMIT_AS_FLAGS = ['--max-semi-space-size=1', '--max-old-space-size=256'];

export interface PodMemory {
  /** For startDrainProxy: `wrap` and `nodeFlags` put the process under the chart's limit. */
  readonly wrap: readonly string[] | undefined;
  readonly nodeFlags: readonly string[];
  /** For a bench's record: how the limit was given. */
  readonly description: string;
  remove(): boolean;
}

/** The chart's default memory limit for processes started with it: a real cgroup, or the Node flags standing for it. */
export function podMemory(): PodMemory {
  const chart = chartMemoryLimit();
  const limit = memoryLimit(chart.bytes);
  if (limit !== undefined) {
    return { wrap: limit.wrap, nodeFlags: [], description: `the chart's ${chart.text} limit, in a real memory cgroup entered before node starts`, remove: limit.remove };
  }
  return {
    wrap: undefined,
    nodeFlags: LIMIT_AS_FLAGS,
    description: `the chart's ${chart.text} limit stood for by Node flags ${LIMIT_AS_FLAGS.join(' ')} (the heap Node gives a 256 MiB container; no memory cgroup could be made here)`,
    remove: () => true,
  };
}
