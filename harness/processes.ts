/**
 * Child processes of the tests, the demo, the bench and the rollout: each
 * tracked until it exits, so that none outlives the run whatever way the run
 * ends (`stopAll()` at the end, `killAllNow()` on process 'exit', where
 * nothing can be awaited). Its stdout is read line by line (pino's JSON lines
 * parsed into `logs`), its last lines kept for error messages.
 *
 * `group: true` starts a process in its own process group, so that a signal to
 * the group also reaches the processes it starts (nginx's workers, which would
 * otherwise outlive a killed master); `signal()` always goes to the process
 * alone, `stop()` and the kills to its group.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface LogLine {
  readonly msg: string;
  readonly level: number;
  readonly [key: string]: unknown;
}

export interface StartOptions {
  /** The environment besides PATH. */
  readonly env?: Record<string, string | undefined>;
  readonly name?: string;
  readonly group?: boolean;
}

const running = new Set<Child>();
const TAIL_LINES = 100;
const STDERR_CAP = 64 * 1024;

export function describeExit(status: ExitStatus | undefined): string {
  if (status === undefined) return 'still running';
  return status.signal !== null ? `killed by ${status.signal}` : `exit code ${status.code}`;
}

function parseLog(line: string): LogLine {
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed === 'object' && parsed !== null) return parsed as LogLine;
  } catch {
    // Not JSON: kept as a message.
  }
  return { msg: line, level: 0 };
}

export class Child {
  readonly name: string;
  readonly process: ChildProcess;
  readonly pid: number;
  /** Every stdout line; `logs` has them parsed (a line that is not JSON as `{ msg: line, level: 0 }`). */
  readonly lines: string[] = [];
  readonly logs: LogLine[] = [];
  /** stderr, the first 64 KiB. */
  stderr = '';
  exitStatus: ExitStatus | undefined;
  /** performance.now() at the exit. */
  exitedAt = 0;
  /** Why it could not be started (ENOENT), if so. */
  spawnError: Error | undefined;
  /** Resolves when the process has exited and its output is read (never rejects). */
  readonly exited: Promise<ExitStatus>;
  readonly #group: boolean;
  readonly #tail: string[] = [];
  #cursor = 0;
  #wake: (() => void) | undefined;

  constructor(command: string, args: readonly string[], options: StartOptions = {}) {
    this.name = options.name ?? command;
    this.#group = options.group ?? false;
    this.process = spawn(command, args, { env: { PATH: process.env.PATH, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: this.#group });
    this.pid = this.process.pid ?? 0;
    let partial = '';
    this.process.stdout!.setEncoding('utf8').on('data', (text: string) => {
      const parts = (partial + text).split('\n');
      partial = parts.pop()!;
      for (const line of parts) this.#line(line);
      this.#wake?.();
    }).on('end', () => {
      if (partial !== '') this.#line(partial);
    });
    this.process.stderr!.setEncoding('utf8').on('data', (text: string) => {
      if (this.stderr.length < STDERR_CAP) this.stderr += text;
      for (const line of text.split('\n')) if (line !== '') this.#keep(line);
    });
    this.exited = new Promise((resolve) => {
      const finish = (): void => {
        running.delete(this);
        this.#wake?.();
        resolve(this.exitStatus!);
      };
      this.process.once('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        this.exitedAt = performance.now();
        // Its last lines may still be on their way: done once stdout and stderr are closed too (at most 1 s later,
        // should something it started still hold them).
        const late = setTimeout(() => {
          this.process.stdout!.destroy();
          this.process.stderr!.destroy();
          finish();
        }, 1000);
        this.process.once('close', () => {
          clearTimeout(late);
          finish();
        });
      });
      // Without a listener a failed spawn would crash the caller.
      this.process.once('error', (err) => {
        this.spawnError = err;
        this.#keep(`spawn failed: ${err.message}`);
        this.exitStatus ??= { code: null, signal: null };
        finish();
      });
    });
    running.add(this);
  }

  #keep(line: string): void {
    this.#tail.push(line);
    if (this.#tail.length > TAIL_LINES) this.#tail.shift();
  }

  #line(line: string): void {
    this.lines.push(line);
    this.logs.push(parseLog(line));
    this.#keep(line);
  }

  get running(): boolean {
    return this.exitStatus === undefined;
  }

  /** The last lines of stdout and stderr, for error messages. */
  output(): string {
    return this.#tail.join('\n');
  }

  /** What to say when the process is gone: its name, how it ended and its last output. */
  describe(): string {
    return `${this.name} ${describeExit(this.exitStatus)}:\n    ${this.#tail.join('\n    ')}`;
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.process.kill(signal);
  }

  #signalGroup(signal: NodeJS.Signals): void {
    if (!this.#group) return this.signal(signal);
    try {
      process.kill(-this.pid, signal);
    } catch {
      // The group is already gone.
    }
  }

  /** Waits up to `timeoutMs` for the exit; SIGKILL past it (as the kubelet at the end of a grace period). */
  async waitForExit(timeoutMs: number): Promise<ExitStatus> {
    const timer = setTimeout(() => this.#signalGroup('SIGKILL'), timeoutMs);
    const status = await this.exited;
    clearTimeout(timer);
    return status;
  }

  /** SIGTERM, and SIGKILL once `graceMs` has passed; with no grace SIGKILL at once. Stragglers in its group do not outlive it. */
  async stop(graceMs = 0): Promise<ExitStatus> {
    this.#signalGroup(graceMs > 0 ? 'SIGTERM' : 'SIGKILL');
    const status = await this.waitForExit(graceMs);
    if (this.#group) this.#signalGroup('SIGKILL');
    return status;
  }

  /** SIGKILL now (to the group), without waiting. */
  kill(): void {
    if (this.running || this.#group) this.#signalGroup('SIGKILL');
  }

  log(msg: string): LogLine | undefined {
    return this.logs.find((line) => line.msg === msg);
  }

  async waitForLog(msg: string, timeoutMs = 10_000): Promise<LogLine> {
    for (const deadline = performance.now() + timeoutMs; performance.now() < deadline; await sleep(20)) {
      const line = this.log(msg);
      if (line !== undefined) return line;
    }
    throw new Error(`no log line "${msg}" within ${timeoutMs} ms; got: ${this.logs.map((l) => l.msg).join(' | ')}`);
  }

  /** The rest of the first unread stdout line that is `word` or starts with `word `, skipping the lines before it. */
  async nextLine(word: string, timeoutMs: number): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      while (this.#cursor < this.lines.length) {
        const line = this.lines[this.#cursor++];
        if (line === word || line.startsWith(`${word} `)) return line.slice(word.length + 1);
      }
      if (!this.running) throw new Error(`${this.describe()}\n(exited before '${word}')`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`${this.name}: no '${word}' within ${timeoutMs} ms:\n${this.output()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.#wake = () => { clearTimeout(timer); resolve(); };
      });
      this.#wake = undefined;
    }
  }

  /** The rest of the last stdout line starting with `word `, read or not. */
  lastLine(word: string): string | undefined {
    return this.lines.findLast((line) => line.startsWith(`${word} `))?.slice(word.length + 1);
  }
}

/** Starts `command`; its environment is PATH and `options.env` only. */
export function start(command: string, args: readonly string[], options: StartOptions = {}): Child {
  return new Child(command, args, options);
}

/** A Node script of ours (`node SCRIPT ARGS`), resolved once it prints `listening`. */
export async function startScript(name: string, script: string, args: readonly string[] = []): Promise<Child> {
  const child = start(process.execPath, [script, ...args], { name });
  await child.nextLine('listening', 10_000);
  return child;
}

/** Stops every process still running: SIGTERM, then SIGKILL for those still there after `graceMs`. */
export async function stopAll(graceMs = 3000): Promise<void> {
  await Promise.all([...running].map((child) => child.stop(graceMs)));
}

/** Synchronous last resort, for process 'exit'. */
export function killAllNow(): void {
  for (const child of running) child.kill();
}

process.on('exit', killAllNow);

/**
 * Runs a command to completion (in its own process group, killed as a whole
 * past `timeoutMs`) and resolves with its output; rejects on a non-zero exit
 * unless allowed, or when it cannot be started.
 */
export async function run(
  command: string, args: readonly string[], options: { allowFailure?: boolean; timeoutMs?: number; env?: StartOptions['env'] } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = start(command, args, { env: options.env, group: true });
  const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => child.kill(), options.timeoutMs);
  const { code } = await child.exited;
  clearTimeout(timer);
  if (child.spawnError !== undefined) throw child.spawnError;
  const stdout = child.lines.map((line) => `${line}\n`).join('');
  if (code !== 0 && options.allowFailure !== true) throw new Error(`${command} ${args.join(' ')} exited with ${code}:\n${child.stderr || stdout}`);
  return { code, stdout, stderr: child.stderr };
}
