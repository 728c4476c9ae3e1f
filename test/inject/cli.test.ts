/**
 * The `drain-proxy inject` / `uninject` command as users run it: the built
 * dist/main.js (npm test builds it), stdin or a file, stdout, one line per
 * problem on stderr, exit codes; and the subcommand loads nothing of the
 * proxy: no listener, no admin port, neither node:http nor prom-client.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fixture, objectsOf, podSpecOf } from './support.ts';

const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
const work = mkdtempSync(path.join(tmpdir(), 'drain-proxy-inject-cli-'));
after(() => rmSync(work, { recursive: true, force: true }));

function run(args: string[], input?: string, env: NodeJS.ProcessEnv = {}): { code: number; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [...(env.NODE_OPTIONS_ARGS?.split(' ') ?? []), MAIN, ...args], {
    input: input ?? '',
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, ...env, NODE_OPTIONS_ARGS: undefined },
  });
  if (result.error) throw result.error;
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

test('inject reads stdin (or -), writes the manifests to stdout and nothing to stderr', () => {
  const source = fixture('nginx-deployment.yaml');
  for (const args of [['inject'], ['inject', '-']]) {
    const result = run(args, source);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
    assert.equal(podSpecOf(objectsOf(result.stdout).find((o) => o.kind === 'Deployment')!).initContainers[0].name, 'drain-proxy');
  }
});

test('options: --kube-version, --image, --set and --values (chart keys), in order', () => {
  const values = path.join(work, 'values.yaml');
  writeFileSync(values, 'drain:\n  timeoutSeconds: 40\nlog:\n  level: debug\n');
  const file = path.join(work, 'in.yaml');
  writeFileSync(file, fixture('nginx-deployment.yaml'));
  const result = run(['inject', '--kube-version', 'v1.28.4', '--image', 'registry.example.com/drain-proxy:0.1.0', '-f', values, '--set', 'log.level=warn', file]);
  assert.equal(result.code, 0, result.stderr);
  const spec = podSpecOf(objectsOf(result.stdout).find((o) => o.kind === 'Deployment')!);
  const proxy = spec.containers.find((c: any) => c.name === 'drain-proxy');
  assert.ok(proxy, 'a classic container before 1.29');
  assert.equal(proxy.image, 'registry.example.com/drain-proxy:0.1.0');
  const env = new Map(proxy.env.map((e: any) => [e.name, e.value]));
  assert.equal(env.get('DRAIN_TIMEOUT'), '40s');
  assert.equal(env.get('LOG_LEVEL'), 'warn', '--set after --values wins');
  assert.equal(spec.terminationGracePeriodSeconds, 45);
});

test('a manifest it cannot wire: exit 1, one line on stderr naming the workload and the fix, nothing on stdout', () => {
  const result = run(['inject'], fixture('multi-container.yaml'));
  assert.equal(result.code, 1);
  assert.equal(result.stdout, '');
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0], /^drain-proxy inject: Deployment api: several container ports could be the app's .* annotate the pod template with drain-proxy\.io\/app-port/);
});

test('warnings go to stderr, the manifests to stdout, exit 0', () => {
  const result = run(['inject'], fixture('elasticsearch-statefulset.yaml'));
  assert.equal(result.code, 0);
  assert.match(result.stderr, /^drain-proxy inject: warning: Service search-master-headless: headless/);
  assert.ok(result.stdout.includes('kind: StatefulSet'));
});

test('wrong command lines: exit 2 with the problem and a pointer to --help; bad values and bad YAML: exit 1', () => {
  const unknown = run(['inject', '--frobnicate'], '');
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^drain-proxy inject: Unknown option '--frobnicate'.*\nrun drain-proxy inject --help for the options\n$/);
  assert.equal(run(['inject', '--image', 'no-tag'], '').code, 2);
  const values = run(['inject', '--set', 'drain.delaySeconds=30'], '');
  assert.equal(values.code, 1);
  assert.match(values.stderr, /^drain-proxy inject: drain\.delaySeconds \(30\) must be less than drain\.timeoutSeconds \(25\)/);
  const proxyRefuses = run(['inject', '--set', 'upstream.protocol=h3'], '');
  assert.equal(proxyRefuses.code, 1);
  assert.match(proxyRefuses.stderr, /^drain-proxy inject: upstream\.protocol: the proxy refuses invalid UPSTREAM_PROTOCOL="h3"/);
  const yaml = run(['uninject'], 'kind: [\n');
  assert.equal(yaml.code, 1);
  assert.match(yaml.stderr, /^drain-proxy uninject: stdin: YAML error at line \d+, column \d+/);
  const missing = run(['inject', path.join(work, 'nope.yaml')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^drain-proxy inject: cannot read .*nope\.yaml: ENOENT\n$/);
});

test('--help prints the usage and exits 0', () => {
  const result = run(['inject', '--help']);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /^usage: drain-proxy inject \[options\] \[FILE \| -\]/);
  assert.match(result.stdout, /--kube-version X\.Y/);
});

test('uninject gives back the input objects; a file uninject did not need to touch comes back byte for byte', () => {
  const source = fixture('fluent-bit-daemonset.yaml');
  const injected = run(['inject'], source);
  const back = run(['uninject'], injected.stdout);
  assert.equal(back.code, 0, back.stderr);
  assert.deepEqual(objectsOf(back.stdout), objectsOf(source));
  assert.equal(run(['uninject'], source).stdout, source);
});

/** Loaded with --import: records the modules loaded and every listen() call, written at exit to the file in its env. */
const PROBE = `
import { registerHooks } from 'node:module';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
const seen = new Set();
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); seen.add(r.url); return r; } });
const listens = [];
const original = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) { listens.push(String(args[0]?.port ?? args[0])); return original.apply(this, args); };
process.on('exit', () => writeFileSync(process.env.LOAD_PROBE_OUT, JSON.stringify({ urls: [...seen], builtins: process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')), listens })));
`;

test('the subcommand loads nothing of the proxy: no listen(), no node:http, no prom-client or pino (the proxy path, as a control, loads them)', () => {
  const probe = path.join(work, 'probe.mjs');
  writeFileSync(probe, PROBE);
  const report = (args: string[], input: string, env: NodeJS.ProcessEnv = {}): { urls: string[]; builtins: string[]; listens: string[]; code: number } => {
    const out = path.join(work, `probe-${args[0] ?? 'proxy'}.json`);
    const result = run(args, input, { ...env, NODE_OPTIONS_ARGS: `--import ${probe}`, LOAD_PROBE_OUT: out });
    return { ...JSON.parse(readFileSync(out, 'utf8')), code: result.code };
  };
  const injectRun = report(['inject'], fixture('nginx-deployment.yaml'));
  assert.equal(injectRun.code, 0);
  assert.deepEqual(injectRun.listens, [], 'inject listens on nothing');
  assert.ok(!injectRun.builtins.some((m) => /^NativeModule (http|_http_server|https|http2)$/.test(m)), `node:http not loaded: ${injectRun.builtins.filter((m) => /http/.test(m)).join(', ')}`);
  assert.ok(!injectRun.urls.some((url) => /node_modules\/(prom-client|pino)\//.test(url)), 'prom-client and pino not loaded');
  assert.ok(injectRun.urls.some((url) => /node_modules\/yaml\//.test(url)), 'the probe sees modules (yaml is loaded)');

  const proxyRun = report([], '', { LISTEN_PORT: 'not-a-port' });
  assert.equal(proxyRun.code, 1, 'the proxy refuses the configuration and exits');
  assert.ok(proxyRun.builtins.includes('NativeModule http'), 'the control: the proxy path loads node:http');
  assert.ok(proxyRun.urls.some((url) => /node_modules\/prom-client\//.test(url)), 'the control: the proxy path loads prom-client');
});
