/**
 * Child processes of the demo (apps and proxies), each tracked until it exits,
 * so that none outlives the demo whatever way the demo ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface RunningProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitStatus>;
  /** Set once the process has exited. */
  exitStatus: ExitStatus | undefined;
  /** Every stdout line parsed as JSON (pino logs); non-JSON lines are kept in `outputTail`. */
  readonly jsonLines: Record<string, unknown>[];
  /** The last lines of stdout and stderr, for error messages. */
  readonly outputTail: string[];
}

const OUTPUT_TAIL_LINES = 40;

export function describeExit(status: ExitStatus | undefined): string {
  if (status === undefined) return 'still running';
  return status.signal !== null ? `killed by ${status.signal}` : `exit code ${status.code}`;
}

export class ProcessGroup {
  readonly #running = new Set<RunningProcess>();

  constructor() {
    // Synchronous last resort: 'exit' handlers cannot wait, so anything still
    // running is killed outright rather than left behind holding its ports.
    process.on('exit', () => this.killAll('SIGKILL'));
  }

  /** Starts `executable` (by default this Node) with `args`; its environment is `env` and PATH only. */
  start(name: string, args: readonly string[], env: Record<string, string>, executable = process.execPath): RunningProcess {
    const child = spawn(executable, args, {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const jsonLines: Record<string, unknown>[] = [];
    const outputTail: string[] = [];
    const keepTail = (line: string): void => {
      outputTail.push(line);
      if (outputTail.length > OUTPUT_TAIL_LINES) outputTail.shift();
    };
    createInterface({ input: child.stdout! }).on('line', (line) => {
      keepTail(line);
      if (!line.startsWith('{')) return;
      try {
        jsonLines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // A partial or foreign line: it stays visible in outputTail.
      }
    });
    createInterface({ input: child.stderr! }).on('line', keepTail);

    const running: RunningProcess = {
      name,
      child,
      exitStatus: undefined,
      jsonLines,
      outputTail,
      exited: new Promise<ExitStatus>((resolve) => {
        const finish = (status: ExitStatus): void => {
          running.exitStatus ??= status;
          this.#running.delete(running);
          resolve(running.exitStatus);
        };
        child.once('exit', (code, signal) => finish({ code, signal }));
        child.once('error', (err) => {
          keepTail(`spawn failed: ${err.message}`);
          finish({ code: null, signal: null });
        });
      }),
    };
    this.#running.add(running);
    return running;
  }

  signal(running: RunningProcess, signal: NodeJS.Signals): void {
    if (running.exitStatus === undefined) running.child.kill(signal);
  }

  /** Waits up to `timeoutMs` for an exit; kills with SIGKILL past it (the kubelet's end of the grace period). */
  async waitForExit(running: RunningProcess, timeoutMs: number): Promise<ExitStatus> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const result = await Promise.race([running.exited, timedOut]);
    clearTimeout(timer);
    if (result !== 'timeout') return result;
    this.signal(running, 'SIGKILL');
    return running.exited;
  }

  /** Stops every process still running: `signal` first, SIGKILL for those still there after `timeoutMs`. */
  async stopAll(signal: NodeJS.Signals, timeoutMs: number): Promise<void> {
    const remaining = [...this.#running];
    for (const running of remaining) this.signal(running, signal);
    await Promise.all(remaining.map((running) => this.waitForExit(running, timeoutMs)));
  }

  killAll(signal: NodeJS.Signals): void {
    for (const running of this.#running) this.signal(running, signal);
  }
}
