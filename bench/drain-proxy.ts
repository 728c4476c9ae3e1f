import { existsSync } from 'node:fs';
import { start, type Child } from '../harness/processes.ts';
import { waitFor200 } from '../harness/http.ts';

export const drainProxyEntry = new URL('../dist/main.js', import.meta.url).pathname;

export function drainProxyBuilt(): boolean {
  return existsSync(drainProxyEntry);
}

export interface DrainProxyInstance {
  readonly port: number;
  readonly adminPort: number;
  readonly child: Child;
}

/**
 * `nofileLimit` raises the open-file limit (soft and hard, via prlimit; needs root to go past the
 * hard limit) for the WebSocket bench, where each idle WebSocket holds two descriptors.
 */
export async function startDrainProxy(
  port: number, adminPort: number, appPort: number,
  options: { nofileLimit?: number; env?: Record<string, string>; nodeFlags?: readonly string[] } = {},
): Promise<DrainProxyInstance> {
  // Node flags go before the entry point: NODE_OPTIONS refuses some (the semi-space sizes the soak pins).
  const node = [process.execPath, ...(options.nodeFlags ?? []), drainProxyEntry];
  const command = options.nofileLimit === undefined
    ? node
    : ['prlimit', `--nofile=${options.nofileLimit}:${options.nofileLimit}`, '--', ...node];
  const child = start(command[0], command.slice(1), {
    env: {
      LISTEN_PORT: String(port),
      LISTEN_ADDRESS: '127.0.0.1',
      UPSTREAM: `http://127.0.0.1:${appPort}`,
      ADMIN_PORT: String(adminPort),
      ADMIN_ADDRESS: '127.0.0.1',
      LOG_LEVEL: 'warn',
      // The bench stops it with SIGTERM; nothing is in flight then, so there is no reason to wait.
      DRAIN_DELAY: '0s',
      DRAIN_TIMEOUT: '2s',
      // Its /metrics reads are the bench's, not a scraper's: no final scrape to wait for.
      FINAL_SCRAPE_WAIT: 'off',
      ...options.env,
    },
  });
  await waitFor200(`http://127.0.0.1:${adminPort}/readyz`, child, 20_000);
  return { port, adminPort, child };
}
