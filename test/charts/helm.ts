/**
 * Runs `helm` for the chart tests and parses what it renders.
 *
 * The tests call `helm` from PATH, so they run unchanged where a real Helm is
 * installed. When none is found, ../shared/tools/bin (a stand-in that renders
 * as Helm 3 does, built once with Go from Debian packages, which it installs
 * when missing) goes at the END of PATH. Its first call builds it; test files
 * run in parallel processes, so that first call is serialized by a lock
 * directory, and every later call finds the cached binary; under the same lock
 * the charts' file:// dependencies are built when stale (which a real Helm
 * needs). This happens when the module is imported, outside any test's timeout.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

export const repoRoot = path.resolve(import.meta.dirname, '../..');
export const libraryChart = path.join(repoRoot, 'charts/drain-proxy');
export const exampleChart = path.join(repoRoot, 'charts/drain-proxy-example');
const standInBin = path.resolve(repoRoot, '../shared/tools/bin');

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
  [key: string]: any;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

function onPath(name: string, pathValue: string): boolean {
  return pathValue.split(path.delimiter).some((dir) => dir !== '' && existsSync(path.join(dir, name)));
}

let env: NodeJS.ProcessEnv | undefined;

/** The environment helm runs in: PATH with the stand-in appended when no helm is installed. */
function helmEnv(): NodeJS.ProcessEnv {
  if (env !== undefined) return env;
  const current = process.env.PATH ?? '';
  env = onPath('helm', current) ? { ...process.env } : { ...process.env, PATH: `${current}${path.delimiter}${standInBin}` };
  prepare(env);
  return env;
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Whether the process that took the lock still runs (a lock left by a killed run is removed). */
function holderAlive(lock: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(path.join(lock, 'pid'), 'utf8'));
  } catch {
    // Taken a moment ago and the pid not written yet, or being removed: treat as alive unless old.
    try {
      return Date.now() - statSync(lock).mtimeMs < 10_000;
    } catch {
      return false;
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/**
 * `helm dependency build` when the packaged library in the chart's charts/ is
 * missing or older than charts/drain-proxy: a real Helm renders file://
 * dependencies from that copy (the stand-in reads them in place, and this is
 * a no-op for it).
 */
function buildDependencies(chart: string, helmEnvironment: NodeJS.ProcessEnv): void {
  const packaged = path.join(chart, 'charts');
  const built = existsSync(packaged) ? newestMtime(packaged) : 0;
  if (built > newestMtime(libraryChart)) return;
  execFileSync('helm', ['dependency', 'build', chart], { env: helmEnvironment, stdio: ['ignore', 'ignore', 'inherit'], timeout: 120_000 });
}

/** Runs `helm version` once under a lock, so a first-time build (and apt-get) happens in one process only. */
function prepare(helmEnvironment: NodeJS.ProcessEnv): void {
  const lock = path.join(tmpdir(), 'drain-proxy-chart-tests-helm.lock');
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(path.join(lock, 'pid'), String(process.pid));
      break;
    } catch {
      if (!holderAlive(lock)) rmSync(lock, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`waited 5 minutes for the helm build holding ${lock}`);
      else sleep(200);
    }
  }
  try {
    execFileSync('helm', ['version'], { env: helmEnvironment, stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
    for (const chart of [exampleChart, path.join(import.meta.dirname, 'fixtures/three-lines')]) buildDependencies(chart, helmEnvironment);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

// At import, before any test starts: a first-time build (and apt-get) must
// not count against a test's timeout.
helmEnv();

export function helm(args: string[]): HelmResult {
  const result = spawnSync('helm', args, { env: helmEnv(), encoding: 'utf8', timeout: 60_000 });
  if (result.error) throw result.error;
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** True when `helm` is the stand-in, whose schema messages are gojsonschema's (Helm 3.18+ words them differently). */
export function isStandIn(): boolean {
  return /helm-compatible renderer/.test(helm(['version']).stdout);
}

export interface RenderOptions {
  values?: string[];
  set?: string[];
  setString?: string[];
  kubeVersion?: string;
  chart?: string;
  release?: string;
  namespace?: string;
}

function templateArgs(options: RenderOptions): string[] {
  const args = ['template', options.release ?? 'demo', options.chart ?? exampleChart, '--namespace', options.namespace ?? 'shop'];
  for (const file of options.values ?? []) args.push('-f', file);
  for (const item of options.set ?? []) args.push('--set', item);
  for (const item of options.setString ?? []) args.push('--set-string', item);
  if (options.kubeVersion !== undefined) args.push('--kube-version', options.kubeVersion);
  return args;
}

/** Renders a chart and returns its objects; throws with helm's stderr when rendering fails. */
export function render(options: RenderOptions = {}): K8sObject[] {
  const result = helm(templateArgs(options));
  if (result.code !== 0) throw new Error(`helm template failed (${result.code}): ${result.stderr}`);
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(result.stdout)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0].message}`);
    const value = doc.toJS();
    if (value !== null && value !== undefined) objects.push(value as K8sObject);
  }
  return objects;
}

/** Renders a chart that must fail; returns helm's error output. */
export function renderFailure(options: RenderOptions): string {
  const result = helm(templateArgs(options));
  if (result.code === 0) throw new Error(`helm template succeeded, expected a failure; args: ${templateArgs(options).join(' ')}`);
  return result.stderr;
}

export function find(objects: K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}

export function only(objects: K8sObject[], kind: string): K8sObject {
  const found = find(objects, kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0];
}
