/**
 * The repository's Dockerfile built with Debian's buildah into
 * localhost/drain-proxy:dev: `npm run image` (scripts/image.ts) and the image
 * test (test/integration/image.test.ts) both build through here.
 *
 * What the machines this runs on need, measured: buildah and podman as root
 * with the runc runtime (crun refuses cgroups v1 hybrid mode), ulimits given
 * explicitly (the OCI runtime's setrlimit is refused otherwise). RUN steps
 * get the engine's default network (a bridge), which reaches the npm registry
 * as the host does. No container registry is reachable there, so the base
 * images come from scripts/image/bases.ts, and the Dockerfile is built with
 * --pull=never against them. --layers keeps each step's result, so
 * a build after a source change reruns only the steps after it.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { aptGetInstall, commandExists } from '../../harness/debian.ts';
import { run } from '../../harness/processes.ts';
import { ensureBaseImages, inspectImage, type BaseImageReport, type Log } from './bases.ts';

const PROJECT_DIR = fileURLToPath(new URL('../../', import.meta.url));

export const IMAGE = 'localhost/drain-proxy:dev';

/** For every `buildah bud` and `podman run` here: runc, and the ulimits the OCI runtime must be given. */
export const OCI_RUNTIME_FLAGS: readonly string[] = ['--runtime', 'runc', '--ulimit', 'nofile=1024:4096', '--ulimit', 'nproc=1024:4096'];

/** Command, and the Debian package that has it. */
const TOOLS: ReadonlyArray<readonly [string, string]> = [
  ['buildah', 'buildah'],
  ['podman', 'podman'],
  ['runc', 'runc'],
  ['debootstrap', 'debootstrap'],
];

/** Image builds share the engine's storage (/var/lib/containers) with every checkout on the machine: one at a time. */
const BUILD_LOCK = path.join(tmpdir(), 'drain-proxy-image-build.lock');
const LOCK_WAIT_MS = 20 * 60_000;

function missingTools(): string[] {
  return TOOLS.filter(([command]) => !commandExists(command)).map(([, pkg]) => pkg);
}

/** Why buildah and podman cannot run on this machine at all, or undefined when they can (possibly after an apt-get install). */
export function containerEngineUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux: buildah and podman';
  if (process.getuid?.() !== 0) return 'needs root: buildah and podman run here as root, with the runc runtime';
  const missing = missingTools();
  if (missing.length > 0 && !commandExists('apt-get')) return `needs ${missing.join(', ')} (Debian packages), and there is no apt-get to install them`;
  return undefined;
}

function ensureContainerTools(): void {
  const missing = missingTools();
  if (missing.length > 0) aptGetInstall(missing);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs `work` holding BUILD_LOCK (a directory with the holder's pid; a dead holder's lock is taken over). */
async function withBuildLock<T>(log: Log, work: () => Promise<T>): Promise<T> {
  const deadline = performance.now() + LOCK_WAIT_MS;
  let told = false;
  for (;;) {
    try {
      await mkdir(BUILD_LOCK);
      await writeFile(path.join(BUILD_LOCK, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(await readFile(path.join(BUILD_LOCK, 'pid'), 'utf8').catch(() => ''));
      if (holder > 0 && !alive(holder)) {
        await rm(BUILD_LOCK, { recursive: true, force: true });
        continue;
      }
      if (performance.now() > deadline) throw new Error(`waited ${LOCK_WAIT_MS / 60_000} minutes for the image build holding ${BUILD_LOCK}`);
      if (!told) log(`waiting for another image build (${BUILD_LOCK}, pid ${holder || 'unknown'}) ...`);
      told = true;
      await sleep(500);
    }
  }
  try {
    return await work();
  } finally {
    await rm(BUILD_LOCK, { recursive: true, force: true });
  }
}

export interface BuiltImage {
  /** Image ID (hex): what a test runs, since the tag may move to another checkout's build. */
  readonly id: string;
  readonly tag: string;
  /** Uncompressed size of all its layers, the base's included, as podman reports it. */
  readonly sizeBytes: number;
  /** `buildah bud` of the Dockerfile alone. */
  readonly dockerfileSeconds: number;
  /** Everything: tools, lock wait, base images, Dockerfile. */
  readonly totalSeconds: number;
  readonly bases: readonly BaseImageReport[];
}

/** Builds the Dockerfile into IMAGE, making its base images available first. */
export async function buildImage(log: Log = () => {}): Promise<BuiltImage> {
  const started = performance.now();
  ensureContainerTools();
  return withBuildLock(log, async () => {
    const bases = await ensureBaseImages(log);
    const work = await mkdtemp(path.join(tmpdir(), 'drain-proxy-image-'));
    try {
      const idFile = path.join(work, 'id');
      log(`buildah bud ${IMAGE} ...`);
      const budStarted = performance.now();
      await run('buildah', [
        'bud', '--pull=never', '--layers', ...OCI_RUNTIME_FLAGS,
        '--iidfile', idFile, '--tag', IMAGE, '--file', path.join(PROJECT_DIR, 'Dockerfile'), PROJECT_DIR,
      ], { timeoutMs: 900_000 });
      const dockerfileSeconds = (performance.now() - budStarted) / 1000;
      const id = (await readFile(idFile, 'utf8')).trim().replace(/^sha256:/, '');
      const info = await inspectImage(id);
      if (info === undefined) throw new Error(`buildah bud reported image ${id}, which podman does not find`);
      return { id, tag: IMAGE, sizeBytes: info.Size, dockerfileSeconds, totalSeconds: (performance.now() - started) / 1000, bases };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
}
