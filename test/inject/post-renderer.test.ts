/**
 * drain-proxy as a Helm post-renderer, with the real binaries, on a chart that
 * has no idea drain-proxy exists (fixtures/charts/web):
 *   Helm 3: --post-renderer drain-proxy --post-renderer-args inject
 *   Helm 4: helm plugin install helm-plugin/, then --post-renderer drain-proxy
 * `drain-proxy` on PATH is the built dist/main.js, as `npm install -g` would
 * put it. Helm 4's plugin goes into Helm homes of this test's own.
 * Helm 3's `helm install` needs a cluster even with --dry-run=client, so it is
 * run as `helm template` (the same rendering and post-rendering); Helm 4's
 * `helm install --dry-run=client` runs without one and is run as documented.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { chartCopy, helm, installs, template, work } from './helm-fixtures.ts';
import { checkWired, named, objectsOf, podMetadataOf, podSpecOf, repoRoot, validateObjects } from './support.ts';

const chart = chartCopy('web');
const bin = path.join(work, 'bin');
mkdirSync(bin, { recursive: true });
writeFileSync(path.join(bin, 'drain-proxy'), `#!/bin/sh\nexec '${process.execPath}' '${path.join(repoRoot, 'dist/main.js')}' "$@"\n`);
chmodSync(path.join(bin, 'drain-proxy'), 0o755);
const PATH = `${bin}${path.delimiter}${process.env.PATH ?? ''}`;

const helm3 = installs.find((i) => i.major === 3)!;
const helm4 = installs.find((i) => i.major === 4)!;
const env3 = { ...helm3.env, PATH };
const home4 = path.join(work, 'helm4-home');
const env4 = {
  ...helm4.env,
  PATH,
  HELM_DATA_HOME: path.join(home4, 'data'),
  HELM_CONFIG_HOME: path.join(home4, 'config'),
  HELM_CACHE_HOME: path.join(home4, 'cache'),
};

/** The release's manifests wired as the chart would: the Deployment with its Service, the rest untouched. */
async function checkRelease(manifests: string, native: boolean): Promise<void> {
  const objects = objectsOf(manifests);
  const deployment = named(objects, 'Deployment', 'shop-web');
  const w = checkWired(deployment, [[named(objects, 'Service', 'shop-web'), ['http']]]);
  assert.equal(w.native, native);
  assert.equal(w.env.get('UPSTREAM'), 'http://127.0.0.1:8080');
  assert.equal(w.env.get('UPSTREAM_HEALTH'), '/ready');
  assert.equal(podSpecOf(deployment).containers.find((c: any) => c.name === 'web').ports[0].name, 'app-http');
  await validateObjects(objects.filter((o) => o.metadata?.annotations?.['helm.sh/hook'] === undefined));
  const hook = objects.find((o) => o.metadata?.annotations?.['helm.sh/hook'] === 'test');
  if (hook !== undefined) assert.equal(podSpecOf(hook).initContainers, undefined, 'the test hook pod is left alone');
}

describe(`Helm 3 (${helm3.version}): --post-renderer drain-proxy --post-renderer-args inject`, () => {
  test('wires the release', async () => {
    await checkRelease(template(helm3, ['shop', chart, '--post-renderer', 'drain-proxy', '--post-renderer-args', 'inject'], env3), true);
  });

  test('options through more --post-renderer-args: a classic sidecar for an older cluster', async () => {
    const manifests = template(helm3, ['shop', chart, '--post-renderer', 'drain-proxy', '--post-renderer-args', 'inject', '--post-renderer-args', '--kube-version=1.28'], env3);
    await checkRelease(manifests, false);
    assert.equal(podMetadataOf(named(objectsOf(manifests), 'Deployment', 'shop-web')).annotations['kubectl.kubernetes.io/default-container'], 'web');
  });

  test('a chart inject cannot wire fails the release with drain-proxy\'s line in Helm\'s error', () => {
    const result = helm(helm3, ['template', 'shop', chart, '--set', 'metrics.enabled=true', '--post-renderer', 'drain-proxy', '--post-renderer-args', 'inject'], env3);
    assert.notEqual(result.code, 0);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /drain-proxy inject: Deployment shop-web: several container ports could be the app's \(web: http 8080, web: metrics 9113\): annotate the pod template with drain-proxy\.io\/app-port/);
  });

  test('the annotation the error names, through the chart\'s own podAnnotations, fixes it', async () => {
    await checkRelease(template(helm3, ['shop', chart, '--set', 'metrics.enabled=true', '--set', 'podAnnotations.drain-proxy\\.io/app-port=http', '--post-renderer', 'drain-proxy', '--post-renderer-args', 'inject'], env3), true);
  });
});

describe(`Helm 4 (${helm4.version}): helm plugin install helm-plugin, --post-renderer drain-proxy`, () => {
  test('the plugin directory is a postrenderer/v1 plugin of the package\'s version, and installs', () => {
    const plugin = parse(readFileSync(path.join(repoRoot, 'helm-plugin/plugin.yaml'), 'utf8'));
    assert.equal(plugin.version, JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version);
    const installed = helm(helm4, ['plugin', 'install', path.join(repoRoot, 'helm-plugin')], env4);
    assert.equal(installed.code, 0, installed.stderr);
    assert.match(installed.stdout, /Installed plugin: drain-proxy/);
    assert.match(helm(helm4, ['plugin', 'list'], env4).stdout, /^drain-proxy\s+0\.1\.0\s+postrenderer\/v1/m);
    assert.ok(!existsSync(path.join(helm4.env.HELM_DATA_HOME!, 'plugins', 'helm-plugin')), 'the shared Helm 4 home is untouched');
  });

  test('helm install --dry-run=client wires the release', async () => {
    const result = helm(helm4, ['install', 'shop', chart, '--dry-run=client', '--post-renderer', 'drain-proxy'], env4);
    assert.equal(result.code, 0, result.stderr);
    await checkRelease(result.stdout.slice(result.stdout.indexOf('MANIFEST:') + 'MANIFEST:'.length, result.stdout.indexOf('NOTES:') < 0 ? undefined : result.stdout.indexOf('NOTES:')), true);
  });

  test('options through --post-renderer-args', async () => {
    await checkRelease(template(helm4, ['shop', chart, '--post-renderer', 'drain-proxy', '--post-renderer-args', '--kube-version=1.28'], env4), false);
  });

  test('a chart inject cannot wire fails the release; Helm 4 drops the plugin\'s stderr, so the line goes to the terminal', (t) => {
    const args = ['template', 'shop', chart, '--set', 'metrics.enabled=true', '--post-renderer', 'drain-proxy'];
    const result = helm(helm4, args, env4);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /plugin "drain-proxy" exited with error/);
    const script = spawnSync('script', ['--version'], { encoding: 'utf8' });
    if (script.error) {
      t.skip('util-linux script(1) is not installed: no terminal to test with');
      return;
    }
    // script(1) gives helm a terminal, as a user at a shell has.
    const quoted = [helm4.bin, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
    const onTerminal = spawnSync('script', ['-qec', quoted, '/dev/null'], { encoding: 'utf8', env: env4, timeout: 60_000 });
    assert.notEqual(onTerminal.status, 0);
    assert.match(onTerminal.stdout, /drain-proxy inject: Deployment shop-web: several container ports could be the app's/);
  });
});
