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
import { setTimeout as sleep } from 'node:timers/promises';
import { ensurePackage } from '../../harness/debian.ts';
import { freePort } from '../../harness/ports.ts';
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
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = performance.now() + 10_000;
  while (!(await answersPing(port))) {
    if (performance.now() > deadline || child.exitCode !== null) throw new Error(`redis-server did not start on ${port}`);
    await sleep(20);
  }
  return {
    port,
    async stop() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
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

/** redis-cli against `port`, one command; resolves with its stdout trimmed (raw output, as when not on a terminal). */
export function redisCli(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (out += text));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('error', reject);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(out.trim());
    });
  });
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
