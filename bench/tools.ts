import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { nginxBinary } from './nginx.ts';
import { run } from '../harness/processes.ts';

export function commandExists(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** apt-get install (as root, or through sudo -n), updating the package lists only when a first try fails. */
export async function aptGetInstall(packages: readonly string[]): Promise<void> {
  const asRoot = process.getuid?.() === 0;
  if (!asRoot && !commandExists('sudo')) {
    throw new Error(`missing ${packages.join(', ')}: install them with apt-get (needs root)`);
  }
  const apt = (args: string[]) => asRoot
    ? run('apt-get', args, { timeoutMs: 600_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
    : run('sudo', ['-n', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args], { timeoutMs: 600_000 });
  // Test files run two at a time and may install at once: wait for dpkg's lock rather than fail on it.
  const install = ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '--no-install-recommends', ...packages];
  try {
    await apt(install);
  } catch {
    // A fresh machine has no package lists yet; only then is an update worth its time.
    await apt(['update']);
    await apt(install);
  }
}

function nginxInstalled(): boolean {
  const nginx = nginxBinary();
  return nginx.startsWith('/') ? existsSync(nginx) : commandExists(nginx);
}

/** nginx from Debian, installed when missing; resolves with its path. */
export async function ensureNginx(): Promise<string> {
  if (!nginxInstalled()) {
    console.log('installing nginx-light with apt-get ...');
    await aptGetInstall(['nginx-light']);
  }
  return nginxBinary();
}

/** wrk, nginx and h2load (nghttp2-client) come from Debian; install whichever is missing. */
export async function ensureBenchTools(): Promise<void> {
  const missing: string[] = [];
  if (!commandExists('wrk')) missing.push('wrk');
  if (!commandExists('h2load')) missing.push('nghttp2-client');
  if (!nginxInstalled()) missing.push('nginx-light');
  if (missing.length === 0) return;
  console.log(`installing ${missing.join(' ')} with apt-get ...`);
  await aptGetInstall(missing);
}

export async function toolVersions(): Promise<{ node: string; nginx: string; wrk: string }> {
  const nginx = await run(nginxBinary(), ['-v'], { allowFailure: true });
  // wrk has no version-only flag: -v prints the version line, then usage, and exits 1.
  const wrk = await run('wrk', ['-v'], { allowFailure: true });
  return {
    node: process.version,
    nginx: /nginx\/(\S+)/.exec(nginx.stderr + nginx.stdout)?.[1] ?? 'unknown',
    wrk: /^wrk (\S+)/m.exec(wrk.stdout + wrk.stderr)?.[1] ?? 'unknown',
  };
}
