/**
 * The container image, built and run for real: the Dockerfile built by
 * `npm run image`'s own code (scripts/image/build.ts, with its base-image
 * cache), inspected, then run with podman as a pod runs it (read-only root
 * filesystem, user 65532, the proxy as PID 1) in front of an app on the host
 * (--network host, loopback addresses only), and stopped with a request in
 * flight. Skipped, with the reason, only where podman cannot run at all.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { eventually } from '../../harness/http.ts';
import { freePort } from '../../harness/ports.ts';
import { run, type LogLine } from '../../harness/processes.ts';
import { buildImage, containerEngineUnavailable, OCI_RUNTIME_FLAGS, type BuiltImage } from '../../scripts/image/build.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const PROJECT_DIR = fileURLToPath(new URL('../../', import.meta.url));
const skip = containerEngineUnavailable() ?? false;

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function podman(args: readonly string[], timeoutMs = 60_000): Promise<string> {
  return (await run('podman', args, { timeoutMs })).stdout;
}

let built: BuiltImage | undefined;

function image(): BuiltImage {
  assert.ok(built !== undefined, 'the image was not built (see the build test)');
  return built;
}

test('npm run image builds localhost/drain-proxy:dev from the Dockerfile (base images pulled, cached or built here)', { skip, timeout: 20 * 60_000 }, async (t) => {
  built = await buildImage((line) => t.diagnostic(line));
  for (const base of built.bases) t.diagnostic(`base ${base.name}: ${base.origin} in ${base.seconds.toFixed(1)} s`);
  t.diagnostic(
    `image ${built.id.slice(0, 12)}: ${(built.sizeBytes / 1e6).toFixed(0)} MB; ` +
    `Dockerfile built in ${built.dockerfileSeconds.toFixed(1)} s, ${built.totalSeconds.toFixed(1)} s in all`,
  );
  assert.match(built.id, /^[0-9a-f]{64}$/);
  assert.ok(built.sizeBytes > 50e6 && built.sizeBytes < 400e6, `image size ${built.sizeBytes} bytes`);
});

test('the image config: user 65532:65532, STOPSIGNAL SIGTERM, /nodejs/bin/node dist/main.js in /app, ports 8000 and 9901', { skip }, async () => {
  const [info] = JSON.parse(await podman(['image', 'inspect', image().id])) as Array<{
    Config: { User: string; StopSignal: string; Entrypoint: string[]; Cmd: string[]; WorkingDir: string; Env: string[]; ExposedPorts: Record<string, object> };
  }>;
  const { Config: config } = info;
  assert.equal(config.User, '65532:65532');
  assert.equal(config.StopSignal, 'SIGTERM');
  assert.deepEqual(config.Entrypoint, ['/nodejs/bin/node']);
  assert.deepEqual(config.Cmd, ['dist/main.js']);
  assert.equal(config.WorkingDir, '/app');
  assert.ok(config.Env.includes('NODE_ENV=production'), config.Env.join(' '));
  assert.ok(config.Env.includes('MALLOC_ARENA_MAX=1'), config.Env.join(' '));
  assert.deepEqual(Object.keys(config.ExposedPorts).sort(), ['8000/tcp', '9901/tcp']);
});

test('the image\'s files: no shell and no package manager; dist/, package.json and the production dependencies only', { skip }, async () => {
  const { id } = image();
  const root = (await podman(['image', 'mount', id])).trim();
  try {
    const files = await readdir(root, { recursive: true });
    const names = new Set(files.map((file) => path.basename(file)));
    for (const program of ['sh', 'bash', 'dash', 'ash', 'busybox', 'npm', 'npx', 'apt', 'apt-get', 'dpkg']) {
      assert.ok(!names.has(program), `${program} in the runtime image: ${files.filter((file) => path.basename(file) === program).join(', ')}`);
    }
    assert.deepEqual((await readdir(path.join(root, 'app'))).sort(), ['dist', 'node_modules', 'package.json']);
    const fileSet = new Set(files);
    assert.ok(fileSet.has('app/dist/main.js'));
    assert.ok(fileSet.has('nodejs/bin/node'));

    const manifest = JSON.parse(await readFile(path.join(PROJECT_DIR, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    const installed = (name: string): boolean => fileSet.has(`app/node_modules/${name}/package.json`);
    for (const name of Object.keys(manifest.dependencies)) assert.ok(installed(name), `production dependency ${name} in the image`);
    for (const name of Object.keys(manifest.devDependencies)) assert.ok(!installed(name), `devDependency ${name} must not be in the image`);
  } finally {
    await run('podman', ['image', 'unmount', id], { allowFailure: true });
  }
});

interface Started {
  readonly name: string;
  readonly upstream: TestUpstream;
  readonly listenPort: number;
  readonly adminPort: number;
}

async function runContainer(): Promise<Started> {
  const upstream = await startUpstream();
  cleanups.push(() => upstream.close());
  const [listenPort, adminPort] = [await freePort(), await freePort()];
  const name = `drain-proxy-image-test-${process.pid}-${randomBytes(3).toString('hex')}`;
  const env = {
    UPSTREAM: `http://127.0.0.1:${upstream.port}`,
    LISTEN_ADDRESS: '127.0.0.1',
    LISTEN_PORT: String(listenPort),
    ADMIN_ADDRESS: '127.0.0.1',
    ADMIN_PORT: String(adminPort),
    HEALTH_INTERVAL: '200ms',
    DRAIN_DELAY: '500ms',
    DRAIN_TIMEOUT: '15s',
    // Its /metrics read below is a check, not a scraper to wait for.
    FINAL_SCRAPE_WAIT: 'off',
  };
  await podman([
    'run', '--detach', '--name', name, '--read-only', ...OCI_RUNTIME_FLAGS, '--network', 'host', '--log-driver', 'k8s-file',
    ...Object.entries(env).flatMap(([key, value]) => ['--env', `${key}=${value}`]),
    image().id,
  ]);
  cleanups.push(() => run('podman', ['rm', '--force', '--time', '0', name], { allowFailure: true }));
  return { name, upstream, listenPort, adminPort };
}

async function containerState(name: string): Promise<{ Status: string; ExitCode: number; Pid: number }> {
  return JSON.parse(await podman(['inspect', '--format', '{{json .State}}', name])) as { Status: string; ExitCode: number; Pid: number };
}

async function logLines(name: string): Promise<LogLine[]> {
  return (await podman(['logs', name]))
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

test('run read-only as 65532, PID 1, in front of an app on the host; podman stop with a request in flight: it completes, exit 0, drain summary logged', { skip, timeout: 120_000 }, async () => {
  const { name, upstream, listenPort, adminPort } = await runContainer();
  const ready = await eventually(async () => {
    const state = await containerState(name);
    assert.equal(state.Status, 'running', `the container stopped:\n${await podman(['logs', name]).catch(() => '')}`);
    return (await fetch(`http://127.0.0.1:${adminPort}/readyz`).catch(() => undefined))?.status === 200;
  }, 20_000);
  assert.ok(ready, `/readyz never answered 200:\n${await podman(['logs', name])}`);

  // The process as the kernel sees it: uid 65532, PID 1 in its namespace, node running dist/main.js.
  const { Pid: hostPid } = await containerState(name);
  const status = await readFile(`/proc/${hostPid}/status`, 'utf8');
  assert.match(status, /^Uid:\s+65532\s+65532\s+65532\s+65532$/m);
  assert.equal(/^NSpid:.*\s(\d+)$/m.exec(status)?.[1], '1', 'the proxy is PID 1 in the container');
  assert.deepEqual((await readFile(`/proc/${hostPid}/cmdline`, 'utf8')).split('\0').filter(Boolean), ['/nodejs/bin/node', 'dist/main.js']);

  const write = await run('podman', ['exec', name, '/nodejs/bin/node', '-e', 'require("node:fs").writeFileSync("/app/probe", "x")'], { allowFailure: true });
  assert.notEqual(write.code, 0);
  assert.match(write.stderr, /EROFS/, 'the root filesystem is read-only');

  for (let index = 0; index < 20; index++) {
    const response = await fetch(`http://127.0.0.1:${listenPort}/through-the-image/${index}`);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), `GET /through-the-image/${index} 0\n`);
  }
  const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  assert.match(metrics, /^drain_proxy_ready 1$/m);

  const client = await RawClient.connect(listenPort);
  cleanups.push(async () => client.destroy());
  client.write('GET /slow?ms=2000 HTTP/1.1\r\nHost: test\r\n\r\n');
  assert.ok(await eventually(() => upstream.received.includes('GET /slow?ms=2000')), 'the slow request reached the app');
  const stopStarted = performance.now();
  // podman stop sends the image's STOPSIGNAL, then SIGKILL after --time seconds.
  const stopped = podman(['stop', '--time', '30', name], 60_000);
  const response = await client.response();
  assert.equal(response.status, 200);
  assert.equal(response.body, 'slow 2000\n');
  assert.equal(response.headers.connection, 'close');
  await stopped;
  const stopSeconds = (performance.now() - stopStarted) / 1000;
  assert.ok(stopSeconds < 10, `stopped in ${stopSeconds.toFixed(1)} s: well before SIGKILL`);

  assert.equal((await containerState(name)).ExitCode, 0);
  const summary = (await logLines(name)).find((line) => line.msg === 'drain finished');
  assert.ok(summary !== undefined, `the drain summary in podman logs:\n${await podman(['logs', name])}`);
  assert.equal(summary.trigger, 'SIGTERM');
  assert.equal(summary.exitCode, 0);
  assert.equal(summary.requestsCompleted, 1);
  assert.equal(summary.cut, 0);
});
