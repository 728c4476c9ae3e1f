/**
 * A real Redis for the TCP_PORTS tests: Debian's redis-server, installed when
 * missing, started on a free loopback port with nothing persisted, and its own
 * client, redis-cli.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { ensurePackage } from '../../harness/debian.ts';
import { eventually } from '../../harness/http.ts';
import { freePort } from '../../harness/ports.ts';
import { run, start } from '../../harness/processes.ts';
import { Wakeup } from '../helpers/wakeup.ts';

function installed(): boolean {
  const probe = (bin: string): boolean => spawnSync(bin, ['--version'], { encoding: 'utf8' }).status === 0;
  return probe('redis-server') && probe('redis-cli');
}

/** Installs redis-server (with redis-cli) when missing; returns why the tests must be skipped, or undefined. */
export function ensureRedis(): string | undefined {
  return ensurePackage('redis-server', installed);
}

export interface RedisServer {
  readonly port: number;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'drain-proxy-redis-'));
  const child = start('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no']);
  if (!(await eventually(async () => !child.running || await answersPing(port), 10_000)) || !child.running) {
    throw new Error(`redis-server did not start on ${port}: ${child.describe()}`);
  }
  return {
    port,
    async stop() {
      await child.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.setTimeout(1000, () => socket.destroy());
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (chunk: Buffer) => {
      socket.destroy();
      resolve(chunk.toString() === '+PONG\r\n');
    });
    socket.once('close', () => resolve(false));
    socket.once('error', () => {});
  });
}

/** redis-cli against `port`, one command; resolves with its output trimmed (raw output, as when not on a terminal). */
export async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { stdout, stderr } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { allowFailure: true, timeoutMs: 10_000 });
  return (stdout + stderr).trim();
}

/**
 * An interactive redis-cli session: commands written one line at a time on its
 * standard input, each reply read back line by line from its output.
 */
export class RedisCliSession {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  #lines: string[] = [];
  #pending = '';
  readonly #wakeup = new Wakeup();

  constructor(port: number) {
    this.child = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const onText = (text: string): void => {
      this.#pending += text;
      let newline: number;
      while ((newline = this.#pending.indexOf('\n')) >= 0) {
        this.#lines.push(this.#pending.slice(0, newline));
        this.#pending = this.#pending.slice(newline + 1);
      }
      this.#wakeup.notify();
    };
    this.child.stdout!.setEncoding('utf8').on('data', onText);
    this.child.stderr!.setEncoding('utf8').on('data', onText);
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** Sends one command line and resolves with the next `lines` output lines. */
  async send(command: string, lines = 1, timeoutMs = 5000): Promise<string[]> {
    this.child.stdin!.write(`${command}\n`);
    const deadline = performance.now() + timeoutMs;
    while (this.#lines.length < lines) {
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`redis-cli: no reply to ${JSON.stringify(command)} within ${timeoutMs} ms`);
      await this.#wakeup.wait(left);
    }
    return this.#lines.splice(0, lines);
  }

  /** Ends its input: redis-cli closes its connection and exits. */
  quit(): Promise<number | null> {
    this.child.stdin!.end();
    return this.exited;
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}
