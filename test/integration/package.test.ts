/**
 * The Dockerfile without a container engine (the real build and run are
 * test/integration/image.test.ts, skipped where podman cannot run): checks the
 * Dockerfile's shape, then replays its prod-deps and runtime steps on the
 * published package: `npm pack`, unpack, `npm ci` with the Dockerfile's own
 * flags (production dependencies only), and the image's command run from
 * there. A runtime dependency listed under devDependencies, or a file the
 * proxy needs at run time left out of the package, makes the proxy fail to
 * start here as it would in the image.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const PROJECT_DIR = fileURLToPath(new URL('../../', import.meta.url));

// ---------------------------------------------------------------------------
// A Dockerfile reader: enough of the syntax for this project's Dockerfile.

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

interface Stage {
  readonly image: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

function parseDockerfile(text: string): Stage[] {
  const logicalLines: string[] = [];
  let pending = '';
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    // Comment lines are dropped even inside a continued instruction, as Docker does.
    if (line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    pending += line;
    if (pending.trim() !== '') logicalLines.push(pending.trim());
    pending = '';
  }
  if (pending.trim() !== '') logicalLines.push(pending.trim());

  const stages: Stage[] = [];
  for (const line of logicalLines) {
    const match = /^(\S+)\s*(.*)$/s.exec(line)!;
    const keyword = match[1].toUpperCase();
    const args = match[2].trim();
    if (keyword === 'FROM') {
      const words = args.split(/\s+/).filter((word) => !word.startsWith('--'));
      const asIndex = words.findIndex((word) => word.toUpperCase() === 'AS');
      stages.push({ image: words[0], name: asIndex >= 0 ? words[asIndex + 1] : undefined, instructions: [] });
    } else {
      assert.ok(stages.length > 0, `Dockerfile: ${keyword} before the first FROM`);
      stages.at(-1)!.instructions.push({ keyword, args });
    }
  }
  return stages;
}

function instructions(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((instruction) => instruction.keyword === keyword);
}

/** CMD/ENTRYPOINT in exec form: the JSON array; shell form would need a shell the runtime has not got. */
function execForm(instruction: Instruction | undefined): string[] {
  if (instruction === undefined) return [];
  assert.ok(instruction.args.startsWith('['), `${instruction.keyword} must use the exec form (JSON array): ${instruction.args}`);
  return JSON.parse(instruction.args) as string[];
}

interface CopyInstruction {
  readonly from: string | undefined;
  readonly sources: string[];
  readonly destination: string;
}

function parseCopy(instruction: Instruction): CopyInstruction {
  const words = instruction.args.split(/\s+/);
  const flags = words.filter((word) => word.startsWith('--'));
  const paths = words.filter((word) => !word.startsWith('--'));
  const from = flags.find((flag) => flag.startsWith('--from='))?.slice('--from='.length);
  return { from, sources: paths.slice(0, -1), destination: paths.at(-1)! };
}

const dockerfileText = await readFile(path.join(PROJECT_DIR, 'Dockerfile'), 'utf8');
const stages = parseDockerfile(dockerfileText);
const runtime = stages.at(-1)!;

function stageNamed(name: string | undefined): Stage {
  const stage = stages.find((candidate) => candidate.name === name);
  assert.ok(stage !== undefined, `Dockerfile: no stage named ${name}`);
  return stage;
}

/** The runtime stage's copies of `target` (a path under WORKDIR) and the stage each comes from. */
function copiesInto(target: string): Array<{ copy: CopyInstruction; stage: Stage }> {
  return instructions(runtime, 'COPY')
    .map(parseCopy)
    .filter((copy) => path.posix.normalize(copy.destination).replace(/^\.\//, '').replace(/\/$/, '') === target)
    .map((copy) => ({ copy, stage: stageNamed(copy.from) }));
}

/** The `npm ci` arguments of the stage that produced the runtime's node_modules. */
function productionInstallArgs(): string[] {
  const [nodeModules] = copiesInto('node_modules');
  assert.ok(nodeModules !== undefined, 'the runtime stage must COPY node_modules from another stage');
  const npmCi = instructions(nodeModules.stage, 'RUN')
    .map((instruction) => instruction.args)
    .find((args) => /\bnpm\s+ci\b/.test(args));
  assert.ok(npmCi !== undefined, `stage ${nodeModules.stage.name} must RUN npm ci`);
  assert.ok(!/&&|;|\|/.test(npmCi), `keep the production npm ci alone in its RUN so this test can replay it: ${npmCi}`);
  return npmCi.replace(/^.*?\bnpm\s+ci\b/, '').trim().split(/\s+/).filter((word) => word !== '');
}

// ---------------------------------------------------------------------------

test('Dockerfile: Node 24 build stage, production-only node_modules, non-root runtime that drains on SIGTERM', () => {
  const build = stages.find((stage) =>
    instructions(stage, 'RUN').some((instruction) => /\bnpm\s+run\s+build\b/.test(instruction.args)));
  assert.ok(build !== undefined, 'a stage must RUN npm run build');
  assert.equal(build.image, 'node:24-bookworm-slim');
  assert.ok(instructions(build, 'RUN').some((instruction) => /\bnpm\s+ci\b/.test(instruction.args)), 'the build stage installs with npm ci');

  assert.ok(stages.length >= 2, 'multi-stage: the runtime stage must not carry the build tools');
  assert.match(runtime.image, /(^node:24[-.]|nodejs24)/, 'the runtime runs Node 24, the version engines allows');

  assert.ok(productionInstallArgs().includes('--omit=dev'), 'the runtime node_modules comes from npm ci --omit=dev');

  // The runtime stage holds dist/, production node_modules and package.json, all from earlier stages.
  const copies = instructions(runtime, 'COPY').map(parseCopy);
  for (const copy of copies) {
    assert.ok(copy.from !== undefined, `runtime COPY from the build context: ${copy.sources.join(' ')}`);
    for (const source of copy.sources) {
      assert.match(path.posix.basename(source), /^(dist|node_modules|package\.json)$/, `unexpected file in the runtime stage: ${source}`);
    }
  }
  const [dist] = copiesInto('dist');
  assert.ok(dist !== undefined && dist.stage === build, 'dist/ must come from the build stage');
  assert.notEqual(copiesInto('node_modules')[0].stage, build, 'node_modules must not come from the build stage (it has the devDependencies)');
  assert.equal(copiesInto('package.json').length, 1, 'package.json ("type": "module") must be in the runtime stage');

  const users = instructions(runtime, 'USER');
  assert.ok(users.length > 0, 'the runtime stage must set USER');
  const user = users.at(-1)!.args.split(':')[0];
  assert.ok(user !== 'root' && user !== '0', `the runtime must not run as root (USER ${users.at(-1)!.args})`);
  assert.match(user, /^\d+$/, 'a numeric USER, so that runAsNonRoot can be verified by the kubelet');

  assert.deepEqual(instructions(runtime, 'STOPSIGNAL').map((instruction) => instruction.args), ['SIGTERM']);
  const exposed = instructions(runtime, 'EXPOSE').flatMap((instruction) => instruction.args.split(/\s+/));
  assert.ok(exposed.includes('8000') && exposed.includes('9901'), `EXPOSE 8000 9901 (got ${exposed.join(' ')})`);

  const command = [...execForm(instructions(runtime, 'ENTRYPOINT').at(-1)), ...execForm(instructions(runtime, 'CMD').at(-1))];
  assert.match(command[0] ?? '', /(^|\/)node$/, `the command starts node directly, as PID 1: ${JSON.stringify(command)}`);
  assert.deepEqual(command.slice(1), ['dist/main.js']);
});

test('.dockerignore keeps node_modules, dist and .git out of the build context but lets the copied sources in', async () => {
  const patterns = (await readFile(path.join(PROJECT_DIR, '.dockerignore'), 'utf8'))
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  // Docker's rule: the last matching pattern decides; `!` re-includes.
  const ignored = (file: string): boolean => {
    let result = false;
    for (const pattern of patterns) {
      const negated = pattern.startsWith('!');
      const glob = (negated ? pattern.slice(1) : pattern).replace(/\/$/, '');
      const regex = new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}(/.*)?$`);
      if (regex.test(file)) result = !negated;
    }
    return result;
  };
  for (const file of ['node_modules/pino/package.json', 'dist/main.js', '.git/HEAD', 'test/integration/package.test.ts']) {
    assert.ok(ignored(file), `${file} must not be sent to the Docker build`);
  }
  const contextSources = stages
    .flatMap((stage) => instructions(stage, 'COPY').map(parseCopy))
    .filter((copy) => copy.from === undefined)
    .flatMap((copy) => copy.sources);
  assert.ok(contextSources.length > 0);
  for (const source of contextSources) {
    const file = source.replace(/^\.\//, '').replace(/\/$/, '');
    assert.ok(!ignored(file) && !ignored(`${file}/x.ts`), `the Dockerfile copies ${source}, which .dockerignore excludes`);
  }
});

// ---------------------------------------------------------------------------

const workDir = await mkdtemp(path.join(tmpdir(), 'drain-proxy-package-'));
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await rm(workDir, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createTcpServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function npm(args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await run('npm', args, { cwd, maxBuffer: 16 << 20, timeout: 120_000 });
    return stdout;
  } catch (err) {
    const { stderr, stdout } = err as { stderr?: string; stdout?: string };
    throw new Error(`npm ${args.join(' ')} failed in ${cwd}:\n${stdout ?? ''}\n${stderr ?? ''}`);
  }
}

async function getWithRetry(url: string, timeoutMs: number, stillRunning: () => string | undefined): Promise<Response> {
  const deadline = performance.now() + timeoutMs;
  let last = 'no answer';
  while (performance.now() < deadline) {
    const exited = stillRunning();
    if (exited !== undefined) throw new Error(`the proxy exited before answering ${url}: ${exited}`);
    try {
      return await fetch(url, { signal: AbortSignal.timeout(1000) });
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(50);
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms (last: ${last})`);
}

test('the package, installed like the image (npm ci --omit=dev), starts, proxies, serves probes and metrics, and exits 0 on SIGTERM', { timeout: 90_000 }, async () => {
  assert.equal(process.versions.node.split('.')[0], '24', 'run with Node 24, the runtime image\'s Node (npm test does)');
  const manifest = JSON.parse(await readFile(path.join(PROJECT_DIR, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
  };

  // npm pack: exactly what `files` publishes, so a runtime file outside it shows up as a failure below.
  const [packed] = JSON.parse(await npm(['pack', '--json', '--ignore-scripts', '--pack-destination', workDir], PROJECT_DIR)) as Array<{
    filename: string;
    files: Array<{ path: string }>;
  }>;
  const packedPaths = packed.files.map((file) => file.path);
  assert.ok(packedPaths.includes('dist/main.js'), 'dist/main.js is in the package (npm test builds it first)');
  for (const file of packedPaths) {
    assert.match(file, /^(dist\/|helm-plugin\/plugin\.yaml$|package\.json$|README(\.md)?$|LICENSE)/i, `unexpected file in the package: ${file}`);
  }

  await run('tar', ['-xzf', path.join(workDir, packed.filename), '-C', workDir]);
  const appDir = path.join(workDir, 'package');
  await copyFile(path.join(PROJECT_DIR, 'package-lock.json'), path.join(appDir, 'package-lock.json'));

  const installArgs = productionInstallArgs();
  for (const flag of ['--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund']) {
    if (!installArgs.includes(flag)) installArgs.push(flag);
  }
  await npm(['ci', ...installArgs], appDir);

  assert.ok(packedPaths.includes('helm-plugin/plugin.yaml'), 'the Helm 4 post-renderer plugin is in the package');
  const installed = (name: string): boolean => existsSync(path.join(appDir, 'node_modules', name, 'package.json'));
  for (const name of Object.keys(manifest.dependencies ?? {})) {
    assert.ok(installed(name), `production dependency ${name} installed`);
  }
  for (const name of Object.keys(manifest.devDependencies ?? {})) {
    assert.ok(!installed(name), `devDependency ${name} must not be installed by npm ci ${installArgs.join(' ')}`);
  }

  const upstream: Server = createHttpServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`upstream saw ${req.method} ${req.url}\n`);
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => upstream.close(resolve)));
  upstream.unref();
  const upstreamPort = (upstream.address() as { port: number }).port;

  const [listenPort, adminPort] = [await freePort(), await freePort()];
  const imageEnv = Object.fromEntries(
    instructions(runtime, 'ENV').map((instruction) => {
      const [name, ...value] = instruction.args.split('=');
      return [name.trim(), value.join('=').trim()];
    }),
  );
  const [, ...commandArgs] = [
    ...execForm(instructions(runtime, 'ENTRYPOINT').at(-1)),
    ...execForm(instructions(runtime, 'CMD').at(-1)),
  ];
  const proxy = spawn(process.execPath, commandArgs, {
    cwd: appDir, // the image's WORKDIR: the unpacked package with its own node_modules
    env: {
      ...imageEnv,
      LISTEN_ADDRESS: '127.0.0.1',
      LISTEN_PORT: String(listenPort),
      ADMIN_ADDRESS: '127.0.0.1',
      ADMIN_PORT: String(adminPort),
      UPSTREAM: `http://127.0.0.1:${upstreamPort}`,
      HEALTH_INTERVAL: '200ms',
      DRAIN_DELAY: '200ms',
      DRAIN_TIMEOUT: '3s',
      // Its /metrics read below is a check, not a scraper to wait for.
      FINAL_SCRAPE_WAIT: 'off',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proxy.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
  proxy.stderr.setEncoding('utf8').on('data', (text: string) => (output += text));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proxy.once('exit', (code, signal) => resolve({ code, signal })));
  cleanups.push(async () => {
    if (proxy.exitCode === null && proxy.signalCode === null) proxy.kill('SIGKILL');
    await exited;
  });
  const stillRunning = (): string | undefined =>
    proxy.exitCode === null && proxy.signalCode === null ? undefined : `exit ${proxy.exitCode ?? proxy.signalCode}:\n${output}`;

  const livez = await getWithRetry(`http://127.0.0.1:${adminPort}/livez`, 10_000, stillRunning);
  assert.equal(livez.status, 200, output);

  let ready = await getWithRetry(`http://127.0.0.1:${adminPort}/readyz`, 2000, stillRunning);
  for (let attempt = 0; ready.status !== 200 && attempt < 50; attempt++) {
    await sleep(100);
    ready = await getWithRetry(`http://127.0.0.1:${adminPort}/readyz`, 2000, stillRunning);
  }
  assert.equal(ready.status, 200, 'ready once the upstream is healthy');

  const proxied = await fetch(`http://127.0.0.1:${listenPort}/through-the-package`);
  assert.equal(proxied.status, 200);
  assert.equal(await proxied.text(), 'upstream saw GET /through-the-package\n');

  const metrics = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
  assert.equal(metrics.status, 200);
  assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/);
  const metricsText = await metrics.text();
  assert.match(metricsText, /^drain_proxy_ready 1$/m, 'prom-client, a production dependency, serves the metrics');

  proxy.kill('SIGTERM');
  const noExit = new AbortController();
  const exit = await Promise.race([
    exited,
    sleep(10_000, 'no exit within 10 s', { signal: noExit.signal }).catch(() => 'aborted'),
  ]);
  noExit.abort();
  assert.deepEqual(exit, { code: 0, signal: null }, output);
  const drainFinished = output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { msg?: string; exitCode?: number; trigger?: string })
    .find((line) => line.msg === 'drain finished');
  assert.ok(drainFinished !== undefined, `pino (a production dependency) logged the drain summary:\n${output}`);
  assert.equal(drainFinished.trigger, 'SIGTERM');
  assert.equal(drainFinished.exitCode, 0);

  // The same installed package as a command: `drain-proxy inject` (yaml, a production dependency).
  const podManifest = 'apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: web, image: "web:1", ports: [{name: http, containerPort: 8080}]}]\n';
  const injected = spawnSync(process.execPath, [...commandArgs, 'inject', '-'], { cwd: appDir, input: podManifest, encoding: 'utf8', timeout: 30_000 });
  assert.equal(injected.status, 0, injected.stderr);
  assert.match(injected.stdout, /initContainers:\n\s+- name: drain-proxy\n/, 'the packaged command wires the pod');
});
