/**
 * The one way the tests, the demo, the bench and the rollout run drain-proxy:
 * the built process (dist/main.js, from `npm run build`) in front of an
 * upstream, its listener and admin port on one address, started and waited
 * for (ready, or only alive when the upstream is meant to be down).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePorts } from './ports.ts';
import { Child } from './processes.ts';

export const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

export function drainProxyBuilt(): boolean {
  return existsSync(MAIN);
}

export interface DrainProxyOptions {
  /**
   * Configuration on top of the addresses. Unless set, HEALTH_INTERVAL is 200ms (readiness follows the upstream
   * quickly) and FINAL_SCRAPE_WAIT is off: the tests, the demo and the bench read /metrics to look, not to scrape.
   */
  readonly env?: Record<string, string>;
  /** Listener, admin and upstream address (default 127.0.0.1), and fixed ports instead of free ones. */
  readonly host?: string;
  readonly listenPort?: number;
  readonly adminPort?: number;
  /** Wait until /readyz answers 200 (default; needs a healthy upstream), only /livez, or not at all. */
  readonly wait?: 'ready' | 'live' | 'none';
  readonly name?: string;
  /** Node flags before the entry point (NODE_OPTIONS refuses some, such as the semi-space sizes). */
  readonly nodeFlags?: readonly string[];
  /** A command to run it under: `prlimit --nofile=N:N --`, `ip netns exec NS`. */
  readonly wrap?: readonly string[];
}

export interface ProxyStatus {
  readonly phase: string;
  readonly connections: Record<string, number>;
  readonly inFlight: Record<string, number>;
}

export class DrainProxy extends Child {
  readonly host: string;
  readonly listenPort: number;
  readonly adminPort: number;

  constructor(command: string, args: readonly string[], env: Record<string, string>, name: string) {
    super(command, args, { env, name });
    this.host = env.LISTEN_ADDRESS;
    this.listenPort = Number(env.LISTEN_PORT);
    this.adminPort = Number(env.ADMIN_PORT);
  }

  url(path: string): string {
    return `http://${this.host}:${this.listenPort}${path}`;
  }

  admin(path: string, init?: RequestInit): Promise<Response> {
    return fetch(`http://${this.host}:${this.adminPort}${path}`, init);
  }

  async metrics(): Promise<string> {
    return (await this.admin('/metrics')).text();
  }

  /** GET /status: the drain phase, open connections and requests in flight, by protocol. */
  async status(): Promise<ProxyStatus> {
    return (await this.admin('/status')).json() as Promise<ProxyStatus>;
  }

  /** Resolves once GET /readyz answers `status` (default 200); fails early when the process exits. */
  async waitForReady(status = 200, timeoutMs = 10_000, path = '/readyz'): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    let last = 'no answer';
    while (performance.now() < deadline && this.running) {
      try {
        const res = await this.admin(path);
        last = `${res.status} ${await res.text()}`;
        if (res.status === status) return;
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(20);
    }
    throw new Error(`${path} did not answer ${status} within ${timeoutMs} ms (last: ${last}); ${this.describe()}`);
  }
}

/** drain-proxy in front of `upstream` (a port on the same host, or a URL). */
export async function startDrainProxy(upstream: number | string, options: DrainProxyOptions = {}): Promise<DrainProxy> {
  const host = options.host ?? '127.0.0.1';
  const [listenPort, adminPort] = options.listenPort !== undefined && options.adminPort !== undefined
    ? [options.listenPort, options.adminPort]
    : await freePorts(2, host);
  const env = {
    LISTEN_ADDRESS: host,
    LISTEN_PORT: String(listenPort),
    ADMIN_ADDRESS: host,
    ADMIN_PORT: String(adminPort),
    UPSTREAM: typeof upstream === 'number' ? `http://${host}:${upstream}` : upstream,
    HEALTH_INTERVAL: '200ms',
    FINAL_SCRAPE_WAIT: 'off',
    ...options.env,
  };
  const command = [...(options.wrap ?? []), process.execPath, ...(options.nodeFlags ?? []), MAIN];
  const proxy = new DrainProxy(command[0], command.slice(1), env, options.name ?? 'drain-proxy');
  const wait = options.wait ?? 'ready';
  try {
    if (wait !== 'none') await proxy.waitForReady(200, 20_000, wait === 'ready' ? '/readyz' : '/livez');
  } catch (err) {
    await proxy.stop();
    throw err;
  }
  return proxy;
}
