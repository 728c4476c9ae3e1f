/**
 * A fresh network namespace for the rollout, so that the iptables Service
 * (service-iptables.ts) programs a firewall nobody else uses and that
 * disappears with the run.
 *
 *   parent (root namespace)                 child (namespace drain-proxy-<pid>-<hex>)
 *   ───────────────────────                 ─────────────────────────────────────────
 *   ip netns add <ns>
 *   ip netns exec <ns> ip link set lo up
 *   ip netns exec <ns> node <same argv> ──▶ DRAIN_PROXY_NETNS=<ns>: enterFreshNetns() returns,
 *     SIGINT/SIGTERM forwarded ──────────▶ the script runs as usual
 *   exit code ◀─────────────────────────── exits
 *   kill what is left in <ns>, ip netns del <ns>, exit with the child's code
 *
 * A fresh namespace has only `lo`, and the kernel routes all of 127.0.0.0/8
 * to it (`local 127.0.0.0/8 dev lo`), so pods on 127.0.1.N need no setup.
 *
 * Usage, first thing in a script:
 *
 *   import { enterFreshNetns } from './netns.ts';
 *   await enterFreshNetns();   // the parent never returns from this; the child continues
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import { aptGetInstall, commandExists } from '../harness/debian.ts';

/** Set in the re-executed child to its namespace's name; its presence means "already inside, do not re-exec". */
export const NETNS_ENV = 'DRAIN_PROXY_NETNS';

/** Where `ip netns add` bind-mounts the namespaces it names. */
const NETNS_DIR = '/run/netns';

/** After a forwarded signal, how long the child has to exit before it is killed. */
const CHILD_GRACE_MS = 10_000;

function ip(args: readonly string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Root, Linux and a working `ip netns`: what creating a namespace needs. */
export function netnsAvailable(): boolean {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  try {
    ip(['netns', 'list']);
    return true;
  } catch {
    return false;
  }
}

/** The name `ip netns` knows this process's network namespace by, if any (as `ip netns identify`). */
export function netnsName(): string | undefined {
  const own = statSync('/proc/self/ns/net');
  let names: string[];
  try {
    names = readdirSync(NETNS_DIR);
  } catch {
    return undefined;
  }
  return names.find((name) => {
    try {
      const named = statSync(`${NETNS_DIR}/${name}`);
      return named.ino === own.ino && named.dev === own.dev;
    } catch {
      return false;
    }
  });
}

/**
 * Whether this process runs outside the root network namespace: its namespace
 * differs from init's. Where init's is unreadable (a sandbox whose pid 1
 * belongs to someone else), only a namespace `ip netns` created and named
 * counts, so the answer errs towards "no".
 */
export function inNetworkNamespace(): boolean {
  const own = readlinkSync('/proc/self/ns/net');
  let init: string;
  try {
    init = readlinkSync('/proc/1/ns/net');
  } catch {
    return netnsName() !== undefined;
  }
  return own !== init;
}

/**
 * iptables from Debian, installed with apt-get when missing. The parent must
 * do this: a fresh namespace has no network to download it through.
 */
export function ensureIptables(): void {
  if (!commandExists('iptables-restore') || !commandExists('iptables-save')) aptGetInstall(['iptables']);
}

/** Kills whatever still runs in the namespace (processes this run started), then deletes it. Synchronous: also used on 'exit'. */
export function deleteNetns(name: string): void {
  try {
    for (const pid of ip(['netns', 'pids', name]).split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  } catch {
    // The namespace is already gone.
  }
  try {
    ip(['netns', 'del', name]);
  } catch {
    // Already deleted.
  }
}

/**
 * Returns at once in the re-executed child (DRAIN_PROXY_NETNS is set). Anywhere else it runs this same script (same
 * node, same execArgv, same argv) again inside a fresh, uniquely named network namespace with `lo` up, and exits with
 * the child's code (128 + signal number when a signal ended it) once the namespace is deleted, never returning.
 * SIGINT and SIGTERM sent to this process are forwarded to the child, which runs in its own process group so that a
 * terminal's Ctrl-C reaches it once, through here. `iptables` (default true): install it first when missing, as the
 * rollout's Service needs it and the namespace has no network to download it through.
 */
export async function enterFreshNetns(options: { readonly iptables?: boolean } = {}): Promise<void> {
  if (process.env[NETNS_ENV] !== undefined) return;
  if (!netnsAvailable()) throw new Error('a network namespace needs root and a working `ip netns` (iproute2)');
  if (options.iptables ?? true) ensureIptables();
  const name = `drain-proxy-${process.pid}-${randomBytes(3).toString('hex')}`;
  ip(['netns', 'add', name]);
  const removeNow = (): void => deleteNetns(name);
  process.once('exit', removeNow);
  let forward: ((signal: NodeJS.Signals) => void) | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  let exitCode: number;
  try {
    ip(['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
    const child = spawn('ip', ['netns', 'exec', name, process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
      stdio: 'inherit',
      detached: true,
      env: { ...process.env, [NETNS_ENV]: name },
    });
    forward = (signal) => {
      child.kill(signal);
      killTimer ??= setTimeout(() => child.kill('SIGKILL'), CHILD_GRACE_MS);
    };
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (childCode, childSignal) => resolve([childCode, childSignal]));
    });
    exitCode = code ?? 128 + (signal === null ? 0 : constants.signals[signal]);
  } finally {
    if (forward !== undefined) {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
    }
    clearTimeout(killTimer);
    removeNow();
    process.off('exit', removeNow);
  }
  process.exit(exitCode);
}
