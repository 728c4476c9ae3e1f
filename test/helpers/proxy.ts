/**
 * Runs the real drain-proxy process (dist/main.js, built by `npm test`) for
 * integration tests: free loopback ports, JSON log lines collected, exit
 * observed, signals sent.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

export const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

export interface LogLine {
  readonly msg: string;
  readonly level: number;
  readonly [key: string]: unknown;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export class ProxyProcess {
  readonly child: ChildProcess;
  readonly listenPort: number;
  readonly adminPort: number;
  readonly logs: LogLine[] = [];
  stderr = '';
  readonly exited: Promise<Exit>;
  exitedAt = 0;

  constructor(child: ChildProcess, listenPort: number, adminPort: number) {
    this.child = child;
    this.listenPort = listenPort;
    this.adminPort = adminPort;
    let pending = '';
    child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      pending += text;
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          this.logs.push({ msg: line, level: 0 });
        }
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (text: string) => (this.stderr += text));
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitedAt = performance.now();
        resolve({ code, signal });
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  admin(path: string, init?: RequestInit): Promise<Response> {
    return fetch(`http://127.0.0.1:${this.adminPort}${path}`, init);
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.listenPort}${path}`;
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  log(msg: string): LogLine | undefined {
    return this.logs.find((line) => line.msg === msg);
  }

  async waitForLog(msg: string, timeoutMs = 10_000): Promise<LogLine> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const line = this.log(msg);
      if (line !== undefined) return line;
      await sleep(20);
    }
    throw new Error(`no log line "${msg}" within ${timeoutMs} ms; got: ${this.logs.map((l) => l.msg).join(' | ')}`);
  }

  /** Resolves once GET /readyz answers `status` (default 200). */
  async waitForReady(status = 200, timeoutMs = 10_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    let last = 'no answer';
    while (performance.now() < deadline) {
      try {
        const res = await this.admin('/readyz');
        last = `${res.status} ${await res.text()}`;
        if (res.status === status) return;
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(20);
    }
    throw new Error(`/readyz did not answer ${status} within ${timeoutMs} ms (last: ${last}); stderr: ${this.stderr}`);
  }

  /** Kills the process if a test left it running. */
  async stop(): Promise<Exit> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    return this.exited;
  }
}

export interface StartOptions {
  readonly env?: Record<string, string>;
  /** Wait for /readyz 200 (needs a healthy upstream); otherwise only for /livez. */
  readonly ready?: boolean;
  /** Ports to bind (a restart in place); free ones when absent. */
  readonly ports?: { readonly listen: number; readonly admin: number };
}

export async function startProxy(upstreamPort: number, options: StartOptions = {}): Promise<ProxyProcess> {
  const listenPort = options.ports?.listen ?? (await freePort());
  const adminPort = options.ports?.admin ?? (await freePort());
  const child = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH,
      LISTEN_PORT: String(listenPort),
      LISTEN_ADDRESS: '127.0.0.1',
      ADMIN_PORT: String(adminPort),
      ADMIN_ADDRESS: '127.0.0.1',
      UPSTREAM: `http://127.0.0.1:${upstreamPort}`,
      HEALTH_INTERVAL: '200ms',
      LOG_LEVEL: 'info',
      // Tests read /metrics to look, not to scrape: exit at once unless a test asks for the final scrape.
      FINAL_SCRAPE_WAIT: 'off',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proxy = new ProxyProcess(child, listenPort, adminPort);
  if (options.ready ?? true) {
    await proxy.waitForReady(200);
  } else {
    const deadline = performance.now() + 10_000;
    for (;;) {
      try {
        if ((await proxy.admin('/livez')).status === 200) break;
      } catch {
        if (performance.now() > deadline) throw new Error(`proxy did not start: ${proxy.stderr}`);
        await sleep(20);
      }
    }
  }
  return proxy;
}
