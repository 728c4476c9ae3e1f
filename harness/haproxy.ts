/**
 * HAProxy from Debian (a real PROXY protocol sender in the tests): the binary,
 * installed when missing, and a run from a temp directory in the foreground.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePackage } from './debian.ts';
import { run, start, type Child } from './processes.ts';

/** Debian installs haproxy in /usr/sbin, which is not on a non-root PATH. */
export function haproxyBinary(): string {
  return ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy', '/usr/bin/haproxy'].find((candidate) => existsSync(candidate)) ?? 'haproxy';
}

/** Installs haproxy when missing; returns why the caller must skip, or undefined. */
export function ensureHaproxy(): string | undefined {
  return ensurePackage('haproxy', () => haproxyBinary().startsWith('/'));
}

/**
 * Writes `config` (global and defaults are the caller's) to `dir`, checks it
 * with `haproxy -c` (a bad configuration fails here with HAProxy's message)
 * and starts HAProxy in the foreground (`-db`).
 */
export async function startHaproxy(name: string, dir: string, config: string): Promise<Child> {
  mkdirSync(dir, { recursive: true });
  const configPath = join(dir, 'haproxy.cfg');
  writeFileSync(configPath, config);
  const check = await run(haproxyBinary(), ['-c', '-f', configPath], { allowFailure: true, timeoutMs: 10_000 });
  if (check.code !== 0) throw new Error(`${name}: haproxy -c failed:\n${check.stdout}${check.stderr}`);
  return start(haproxyBinary(), ['-db', '-f', configPath], { name });
}
