/**
 * A real Prometheus for tests: Debian's `prometheus` package (with promtool),
 * installed when missing; a server of the test's own on a free loopback port,
 * scraping pods described in a file (file_sd) with the relabelling the
 * Prometheus Operator generates for a PodMonitor; its HTTP API.
 *
 * The pods' Kubernetes metadata comes as the `__meta_kubernetes_*` labels
 * Kubernetes service discovery (role pod) would attach, so the rendered
 * PodMonitor's own relabelling decides what is scraped and how it is labelled.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { aptGetInstall, commandExists } from '../../harness/debian.ts';
import { waitFor200 } from '../../harness/http.ts';
import { freePort } from '../../harness/ports.ts';
import { start, type Child } from '../../harness/processes.ts';

/** Installs Debian's prometheus (with promtool) when missing; resolves with why tests must be skipped, or undefined. */
export async function ensurePrometheus(): Promise<string | undefined> {
  const installed = (): boolean => commandExists('prometheus') && commandExists('promtool');
  if (installed()) return undefined;
  let failure = '';
  // Twice: another test file's apt-get update may hold the package lists' lock the first time.
  for (let attempt = 0; attempt < 2 && !installed(); attempt++) {
    try {
      aptGetInstall(['prometheus']);
    } catch (err) {
      failure = (err as Error).message.split('\n')[0];
      await sleep(2000);
    }
  }
  return installed() ? undefined : `prometheus could not be installed (apt-get install prometheus: ${failure})`;
}

export interface ToolResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs promtool, with `input` on its stdin. */
export function promtool(args: readonly string[], input?: string): ToolResult {
  const result = spawnSync('promtool', args, { input, encoding: 'utf8', timeout: 60_000 });
  return { code: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

/** The rule file Prometheus loads for a PrometheusRule: its spec. */
export function ruleFile(prometheusRule: { spec?: { groups?: unknown[] } }): string {
  return stringify({ groups: prometheusRule.spec?.groups ?? [] }, { lineWidth: 0 });
}

/** A pod as Kubernetes service discovery (role pod) sees one of its container ports. */
export interface PodTarget {
  /** host:port the port is reached at. */
  readonly address: string;
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  readonly portName: string;
  readonly podLabels: Readonly<Record<string, string>>;
  readonly phase?: string;
}

function sanitize(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, '_');
}

/** Writes the file_sd file (atomically: Prometheus never reads half of it). */
export function writePodTargets(file: string, targets: readonly PodTarget[]): void {
  const groups = targets.map((t) => {
    const labels: Record<string, string> = {
      __meta_kubernetes_namespace: t.namespace,
      __meta_kubernetes_pod_name: t.pod,
      __meta_kubernetes_pod_phase: t.phase ?? 'Running',
      __meta_kubernetes_pod_container_name: t.container,
      __meta_kubernetes_pod_container_port_name: t.portName,
      __meta_kubernetes_pod_container_init: 'false',
    };
    for (const [key, value] of Object.entries(t.podLabels)) {
      labels[`__meta_kubernetes_pod_label_${sanitize(key)}`] = value;
      labels[`__meta_kubernetes_pod_labelpresent_${sanitize(key)}`] = 'true';
    }
    return { targets: [t.address], labels };
  });
  writeFileSync(`${file}.tmp`, JSON.stringify(groups));
  renameSync(`${file}.tmp`, file);
}

/**
 * The scrape config the Prometheus Operator generates for a PodMonitor's
 * first endpoint (pkg/prometheus/promcfg.go, generatePodMonitorConfig), with
 * file_sd in place of kubernetes_sd and, when given, another interval.
 */
export function podMonitorScrapeConfig(podMonitor: any, targetsFile: string, interval?: string): object {
  const { namespace, name } = podMonitor.metadata;
  const endpoint = podMonitor.spec.podMetricsEndpoints[0];
  const relabel: object[] = [
    { source_labels: ['job'], target_label: '__tmp_prometheus_job_name' },
    { action: 'drop', source_labels: ['__meta_kubernetes_pod_phase'], regex: '(Failed|Succeeded)' },
  ];
  for (const [key, value] of Object.entries(podMonitor.spec.selector.matchLabels as Record<string, string>).sort()) {
    relabel.push({ action: 'keep', source_labels: [`__meta_kubernetes_pod_label_${sanitize(key)}`, `__meta_kubernetes_pod_labelpresent_${sanitize(key)}`], regex: `(${value});true` });
  }
  relabel.push(
    { action: 'keep', source_labels: ['__meta_kubernetes_pod_container_port_name'], regex: endpoint.port },
    { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
    { source_labels: ['__meta_kubernetes_pod_container_name'], target_label: 'container' },
    { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
    { target_label: 'job', replacement: `${namespace}/${name}` },
    { target_label: 'endpoint', replacement: endpoint.port },
  );
  return {
    job_name: `podMonitor/${namespace}/${name}/0`,
    honor_labels: false,
    scrape_interval: interval ?? endpoint.interval,
    scrape_timeout: interval ?? endpoint.interval,
    metrics_path: endpoint.path,
    scheme: endpoint.scheme,
    file_sd_configs: [{ files: [targetsFile], refresh_interval: '1s' }],
    relabel_configs: relabel,
  };
}

export interface Sample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

export interface Series {
  readonly metric: Record<string, string>;
  readonly values: Array<[number, string]>;
}

export interface Alert {
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly state: 'pending' | 'firing';
  readonly value: string;
}

export interface PrometheusOptions {
  readonly scrapeConfigs: readonly object[];
  /** Rule files' contents. */
  readonly rules?: readonly string[];
  readonly evaluationInterval?: string;
}

/** A Prometheus server with its own storage, on a free loopback port. */
export class PrometheusServer {
  readonly url: string;
  readonly dir: string;
  readonly #child: Child;

  private constructor(child: Child, url: string, dir: string) {
    this.#child = child;
    this.url = url;
    this.dir = dir;
  }

  /** Starts it in `dir` (a fresh temporary directory when absent) and resolves once it is ready. */
  static async start(options: PrometheusOptions, dir = mkdtempSync(join(tmpdir(), 'prometheus-'))): Promise<PrometheusServer> {
    const ruleFiles = (options.rules ?? []).map((text, i) => {
      const file = join(dir, `rules-${i}.yaml`);
      writeFileSync(file, text);
      return file;
    });
    const config = {
      global: { scrape_interval: '1s', evaluation_interval: options.evaluationInterval ?? '1s' },
      rule_files: ruleFiles,
      scrape_configs: options.scrapeConfigs,
    };
    const configFile = join(dir, 'prometheus.yaml');
    writeFileSync(configFile, stringify(config, { lineWidth: 0 }));
    const port = await freePort();
    const child = start('prometheus', [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ], { name: 'prometheus' });
    const server = new PrometheusServer(child, `http://127.0.0.1:${port}`, dir);
    await waitFor200(`${server.url}/-/ready`, child, 20_000);
    return server;
  }

  async #api<T>(path: string, params: Record<string, string>): Promise<T> {
    const res = await fetch(`${this.url}${path}`, { method: 'POST', body: new URLSearchParams(params) });
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path} ${JSON.stringify(params)}: ${body.error}`);
    return body.data;
  }

  /** An instant query, at `time` (seconds since the epoch) or now. */
  async query(expr: string, time?: number): Promise<Sample[]> {
    const data = await this.#api<{ resultType: string; result: Sample[] }>('/api/v1/query', time === undefined ? { query: expr } : { query: expr, time: String(time) });
    if (data.resultType !== 'vector') throw new Error(`${expr}: a ${data.resultType}, not a vector`);
    return data.result;
  }

  async queryRange(expr: string, start: number, end: number, step: number): Promise<Series[]> {
    const data = await this.#api<{ result: Series[] }>('/api/v1/query_range', { query: expr, start: String(start), end: String(end), step: String(step) });
    return data.result;
  }

  async alerts(): Promise<Alert[]> {
    const res = await fetch(`${this.url}/api/v1/alerts`);
    return ((await res.json()) as { data: { alerts: Alert[] } }).data.alerts;
  }

  /** Polls `query` until it returns a non-empty vector; resolves with it, or with [] after `timeoutMs`. */
  async eventually(expr: string, timeoutMs = 15_000): Promise<Sample[]> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const result = await this.query(expr);
      if (result.length > 0 || performance.now() > deadline) return result;
      await sleep(250);
    }
  }

  get stderr(): string {
    return this.#child.stderr;
  }

  async stop(): Promise<void> {
    await this.#child.stop(10_000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
