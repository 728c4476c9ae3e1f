// The HTTP/2 section of npm run bench: h2load (nghttp2-client) against an h2c app (nginx, HTTP/2 with
// prior knowledge) directly, and through drain-proxy with UPSTREAM_PROTOCOL=h2c (stream to stream) and
// with UPSTREAM_PROTOCOL=http1 (each stream translated to an HTTP/1.1 request), in one run, rounds
// rotated; reports req/s, mean request time and the proxy's CPU per request (from /proc).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runToCompletion, stopAllChildren } from './children.ts';
import { processTreeCpuSeconds } from './cpu.ts';
import { drainProxyBuilt, startDrainProxy } from './drain-proxy.ts';
import { startNginxH2cApp } from './nginx.ts';
import { freeLoopbackPorts } from './ports.ts';
import { median } from './stats.ts';

export interface H2BenchSettings {
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  /** h2load -c: client connections. */
  readonly clients: number;
  /** h2load -m: concurrent streams per connection. */
  readonly streams: number;
  readonly rounds: number;
}

export const H2_SECTION = {
  begin: '<!-- bench-h2-results:begin (rewritten by npm run bench) -->',
  end: '<!-- bench-h2-results:end -->',
  heading: 'Latest HTTP/2 run',
} as const;

type H2TargetName = 'direct' | 'drain-proxy h2c' | 'drain-proxy http1';

interface H2Target {
  readonly name: H2TargetName;
  readonly url: string;
  readonly proxyPid: number | undefined;
}

interface H2loadResult {
  readonly requests: number;
  readonly failed: number;
  readonly requestsPerSecond: number;
  readonly meanMs: number;
  readonly rawOutput: string;
}

interface H2Measurement {
  readonly target: H2TargetName;
  readonly round: number;
  readonly result: H2loadResult;
  readonly proxyCpuUsPerRequest: number | undefined;
}

function toMs(text: string): number {
  const match = /^([\d.]+)(us|ms|s)$/.exec(text);
  if (match === null) return Number.NaN;
  const value = Number(match[1]);
  return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value;
}

export function parseH2load(output: string): H2loadResult {
  const finished = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(output);
  const requests = /requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(output);
  const time = /time for request:\s+(\S+)\s+(\S+)\s+(\S+)/.exec(output);
  if (finished === null || requests === null || time === null) throw new Error(`h2load output not understood:\n${output}`);
  return {
    requests: Number(requests[2]),
    failed: Number(requests[3]) + Number(requests[4]),
    requestsPerSecond: Number(finished[1]),
    meanMs: toMs(time[3]),
    rawOutput: output,
  };
}

async function runH2load(url: string, settings: H2BenchSettings, durationSeconds: number): Promise<H2loadResult> {
  const { stdout, stderr } = await runToCompletion(
    'h2load',
    ['-t', '1', '-c', String(settings.clients), '-m', String(settings.streams), '-D', String(durationSeconds), url],
    { timeoutMs: (durationSeconds + 30) * 1000, allowFailure: true },
  );
  return parseH2load(stdout + stderr);
}

async function measure(target: H2Target, settings: H2BenchSettings, round: number, rawOutputDir: string): Promise<H2Measurement> {
  await runH2load(target.url, settings, settings.warmupSeconds);
  const cpuBefore = target.proxyPid === undefined ? 0 : processTreeCpuSeconds(target.proxyPid);
  const result = await runH2load(target.url, settings, settings.durationSeconds);
  const cpu = target.proxyPid === undefined ? 0 : processTreeCpuSeconds(target.proxyPid) - cpuBefore;
  writeFileSync(join(rawOutputDir, `h2load-${target.name.replace(/ /g, '-')}-round${round}.txt`), result.rawOutput);
  if (result.requests === 0) throw new Error(`${target.name}: h2load completed no request:\n${result.rawOutput}`);
  if (result.failed > 0) console.warn(`  warning: ${target.name} had ${result.failed} failed or errored requests in round ${round}`);
  return {
    target: target.name,
    round,
    result,
    proxyCpuUsPerRequest: target.proxyPid === undefined ? undefined : cpu * 1e6 / result.requests,
  };
}

interface H2Summary {
  readonly target: H2TargetName;
  readonly requestsPerSecond: number;
  readonly meanMs: number;
  readonly proxyCpuUsPerRequest: number | undefined;
  readonly failed: number;
}

function summarize(targets: readonly H2Target[], measurements: readonly H2Measurement[]): H2Summary[] {
  return targets.map(({ name }) => {
    const runs = measurements.filter((m) => m.target === name);
    const cpu = runs.flatMap((m) => (m.proxyCpuUsPerRequest === undefined ? [] : [m.proxyCpuUsPerRequest]));
    return {
      target: name,
      requestsPerSecond: median(runs.map((m) => m.result.requestsPerSecond)),
      meanMs: median(runs.map((m) => m.result.meanMs)),
      proxyCpuUsPerRequest: cpu.length === 0 ? undefined : median(cpu),
      failed: runs.reduce((sum, m) => sum + m.result.failed, 0),
    };
  });
}

function table(summaries: readonly H2Summary[]): string {
  const rows = summaries.map((s) =>
    `| ${s.target} | ${s.requestsPerSecond.toFixed(0)} | ${s.meanMs.toFixed(2)} | ${s.proxyCpuUsPerRequest === undefined ? '-' : s.proxyCpuUsPerRequest.toFixed(1)} | ${s.failed} |`);
  return ['| target | req/s | mean request time (ms) | proxy CPU µs/request | failed |', '|---|---:|---:|---:|---:|', ...rows].join('\n');
}

export interface H2BenchContext {
  readonly settings: H2BenchSettings;
  readonly tempDir: string;
  readonly rawOutputDir: string;
  readonly command: string;
  readonly cpuModel: string;
  readonly kernel: string;
  readonly nginxVersion: string;
  readonly bodyBytes: number;
  readonly body: string;
}

/** Runs the HTTP/2 figures; resolves with the markdown section, or undefined when drain-proxy is not built. */
export async function runH2Bench(context: H2BenchContext): Promise<{ markdown: string | undefined }> {
  const { settings } = context;
  if (!drainProxyBuilt()) {
    console.warn('warning: dist/main.js does not exist; no HTTP/2 figures');
    return { markdown: undefined };
  }
  const [h2Port, http1Port, h2cProxyPort, h2cAdminPort, http1ProxyPort, http1AdminPort] = await freeLoopbackPorts(6);
  await startNginxH2cApp(join(context.tempDir, 'h2c-app'), h2Port, http1Port, context.body);
  const viaH2c = await startDrainProxy(h2cProxyPort, h2cAdminPort, h2Port, { env: { UPSTREAM_PROTOCOL: 'h2c' } });
  const viaHttp1 = await startDrainProxy(http1ProxyPort, http1AdminPort, http1Port, { env: { UPSTREAM_PROTOCOL: 'http1' } });
  const targets: H2Target[] = [
    { name: 'direct', url: `http://127.0.0.1:${h2Port}/`, proxyPid: undefined },
    { name: 'drain-proxy h2c', url: `http://127.0.0.1:${h2cProxyPort}/`, proxyPid: viaH2c.child.pid },
    { name: 'drain-proxy http1', url: `http://127.0.0.1:${http1ProxyPort}/`, proxyPid: viaHttp1.child.pid },
  ];
  const version = await runToCompletion('h2load', ['--version'], { allowFailure: true });
  const h2loadVersion = /nghttp2\/(\S+)/.exec(version.stdout + version.stderr)?.[1] ?? 'unknown';
  console.log(`\nHTTP/2: ${targets.length} targets x ${settings.rounds} rounds, h2load -c${settings.clients} -m${settings.streams} -D${settings.durationSeconds}\n`);
  const measurements: H2Measurement[] = [];
  for (let round = 1; round <= settings.rounds; round += 1) {
    const rotation = (round - 1) % targets.length;
    for (const target of [...targets.slice(rotation), ...targets.slice(0, rotation)]) {
      const m = await measure(target, settings, round, context.rawOutputDir);
      measurements.push(m);
      console.log(`round ${round}  ${target.name.padEnd(18)} ${m.result.requestsPerSecond.toFixed(0).padStart(7)} req/s  `
        + `mean ${m.result.meanMs.toFixed(2).padStart(6)} ms`
        + (m.proxyCpuUsPerRequest === undefined ? '' : `  ${m.proxyCpuUsPerRequest.toFixed(1).padStart(5)} µs CPU/req (proxy)`));
      await sleep(500);
    }
  }
  await stopAllChildren();
  const summaries = summarize(targets, measurements);
  const rendered = table(summaries);
  console.log(`\nHTTP/2 medians over ${settings.rounds} rounds:\n${rendered}`);
  const markdown = `Run ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} with \`${context.command}\` on ${context.cpuModel} (Linux ${context.kernel}):
h2load ${h2loadVersion} (\`-t1 -c${settings.clients} -m${settings.streams}\`, ${settings.warmupSeconds} s warm-up, ${settings.durationSeconds} s measured, ${settings.rounds} rounds, order rotated)
against nginx ${context.nginxVersion} serving a ${context.bodyBytes}-byte body over h2c (one worker): directly, through
drain-proxy with \`UPSTREAM_PROTOCOL=h2c\` (one HTTP/2 session to the app, stream to stream) and with
\`UPSTREAM_PROTOCOL=http1\` (each stream an HTTP/1.1 request on a keep-alive pool). Medians; CPU is the proxy
process's, from /proc. h2load reports no percentiles: the mean request time is its \`time for request\` mean.

${rendered}
`;
  return { markdown };
}
