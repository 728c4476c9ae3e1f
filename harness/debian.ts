/** Debian packages the tests, the bench and the rollout need, installed with apt-get when missing. */
import { spawnSync } from 'node:child_process';

export function commandExists(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

function aptGet(args: readonly string[]): { ok: boolean; output: string } {
  const asRoot = process.getuid?.() === 0;
  const [command, prefix] = asRoot ? ['apt-get', []] : ['sudo', ['-n', 'DEBIAN_FRONTEND=noninteractive', 'apt-get']];
  const result = spawnSync(command, [...prefix, ...args], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    encoding: 'utf8',
    timeout: 600_000,
  });
  return { ok: result.status === 0, output: `${result.stderr ?? ''}${result.stdout ?? ''}`.slice(-2000) };
}

/**
 * apt-get install, as root or through `sudo -n`; the package lists are updated only when a first try
 * fails (a fresh machine has none yet). Throws with apt-get's last output.
 */
export function aptGetInstall(packages: readonly string[]): void {
  if (process.getuid?.() !== 0 && !commandExists('sudo')) throw new Error(`missing ${packages.join(', ')}: install them with apt-get (needs root)`);
  console.log(`installing ${packages.join(' ')} with apt-get ...`);
  // Test files run two at a time and may install at once: wait for dpkg's lock rather than fail on it.
  const install = ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '--no-install-recommends', ...packages];
  if (aptGet(install).ok) return;
  aptGet(['update']);
  const retry = aptGet(install);
  if (!retry.ok) throw new Error(`apt-get install ${packages.join(' ')} failed:\n${retry.output}`);
}

/** Installs `pkg` unless `installed()` already holds; returns why the caller must skip, or undefined. */
export function ensurePackage(pkg: string, installed: () => boolean): string | undefined {
  if (installed()) return undefined;
  try {
    aptGetInstall([pkg]);
  } catch (err) {
    return (err as Error).message;
  }
  return installed() ? undefined : `${pkg} could not be installed (apt-get install -y ${pkg})`;
}
