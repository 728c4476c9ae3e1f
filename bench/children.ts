import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';

/**
 * Every process the bench starts runs in its own process group (detached), so
 * one signal to the group also reaches nginx's workers, which would otherwise
 * outlive a killed master.
 */
const running = new Set<ChildProcess>();

export interface StartedChild {
  readonly process: ChildProcess;
  readonly pid: number;
  /** stdout + stderr so far, capped, for error messages. */
  output(): string;
}

const OUTPUT_CAP = 64 * 1024;

export function startChild(command: string, args: readonly string[], options: SpawnOptions = {}): StartedChild {
  const child = spawn(command, args, { ...options, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  // Without a listener a failed spawn (ENOENT) would crash the bench before cleanup.
  child.on('error', () => {});
  if (child.pid === undefined) {
    throw new Error(`could not start ${command}`);
  }
  running.add(child);
  child.once('exit', () => running.delete(child));
  let captured = '';
  const capture = (chunk: Buffer): void => {
    if (captured.length < OUTPUT_CAP) captured += chunk.toString('utf8');
  };
  child.stdout?.on('data', capture);
  child.stderr?.on('data', capture);
  return { process: child, pid: child.pid, output: () => captured };
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Asks politely, then kills the whole group if it has not exited within `graceMs`. */
export async function stopChild(child: StartedChild, graceMs = 3000): Promise<void> {
  const { process: proc } = child;
  if (hasExited(proc)) {
    signalGroup(proc, 'SIGKILL');
    return;
  }
  const exited = once(proc, 'exit');
  signalGroup(proc, 'SIGTERM');
  const timer = setTimeout(() => signalGroup(proc, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
  // Stragglers in the group (a worker mid-shutdown) must not outlive the bench.
  signalGroup(proc, 'SIGKILL');
}

export async function stopAllChildren(): Promise<void> {
  await Promise.all([...running].map(async (proc) => {
    const pid = proc.pid ?? 0;
    await stopChild({ process: proc, pid, output: () => '' });
  }));
}

/** Synchronous last resort for process 'exit', where nothing can be awaited. */
export function killAllChildrenNow(): void {
  for (const proc of running) signalGroup(proc, 'SIGKILL');
  running.clear();
}

/** Runs a command to completion and returns its output; rejects on a non-zero exit unless allowed. */
export async function runToCompletion(
  command: string,
  args: readonly string[],
  options: { allowFailure?: boolean; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => { stdout += chunk.toString('utf8'); });
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
  const timer = options.timeoutMs === undefined
    ? undefined
    : setTimeout(() => signalGroup(child, 'SIGKILL'), options.timeoutMs);
  try {
    const [code] = await Promise.race([
      once(child, 'close') as Promise<[number | null]>,
      once(child, 'error').then(([error]) => { throw error; }),
    ]);
    if (code !== 0 && options.allowFailure !== true) {
      throw new Error(`${command} ${args.join(' ')} exited with ${code}:\n${stderr || stdout}`);
    }
    return { code, stdout, stderr };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    running.delete(child);
  }
}
