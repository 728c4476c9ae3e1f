// The memory section of npm run bench (`npm run bench -- memory`): VmRSS, RssAnon (private) and RssFile of drain-proxy,
// bare Node (`node -e 'setInterval(()=>{},1e3)'`) and nginx (master and worker), idle and right after 10 s of the
// HTTP/1.1 section's wrk load, with verdicts on drain-proxy's private memory; then each proxy's CPU per request in rotated rounds.
//
// The verdicts rest on drain-proxy as a pod runs it: the image's environment (Dockerfile ENV) inside a memory cgroup
// limited to the chart's default `resources.limits.memory`. Node sizes V8's heap from that limit at start, young
// generation included (two 1 MiB semi-spaces for 256 MiB, where this 24 GB machine without a limit lets them grow to
// 16 MiB and more), so the row without a limit, as the CPU sections run drain-proxy, shows what that sizing saves and
// costs. MEMORY_VARIANT_FLAGS adds a row: the pod's drain-proxy with those Node flags too (empty: no such row).
import { setTimeout as sleep } from 'node:timers/promises';
import { startDrainProxy, type DrainProxy } from '../harness/drain-proxy.ts';
import { podMemory, type PodMemory } from '../harness/memory-limit.ts';
import { treeMemory, type Memory } from '../harness/proc.ts';
import { start, stopAll } from '../harness/processes.ts';
import { median, pairedRatios, runsOf, summarize } from '../harness/bench.ts';
import { markdownTable, consoleTable } from '../harness/tables.ts';
import { startHttp1Targets, wrkLoad, wrkRounds, type Target } from './http1.ts';
import { BENCH_PROXY_ENV, IMAGE_ENV, markers, measuredOn, positiveIntegerFromEnv, type BenchContext, type BenchSection } from './session.ts';
import { runWrk } from './wrk.ts';

const LOAD_SECONDS = positiveIntegerFromEnv('BENCH_DURATION', 10);
const CONNECTIONS = positiveIntegerFromEnv('BENCH_CONNECTIONS', 32);
/** Time for start-up work (the first health check, the first timers) to settle before the idle figure. */
const SETTLE_MS = 3000;
const MiB = 1024 * 1024;

export const GOALS = { idleAnonMiB: 16, loadedAnonMiB: 24, idleOverBare: 2 };
const VARIANT_FLAGS = (process.env.MEMORY_VARIANT_FLAGS ?? '--max-semi-space-size=4').split(' ').filter(Boolean);
const UNLIMITED = 'drain-proxy, no memory limit';

interface Row {
  readonly name: string;
  readonly idle: Memory;
  readonly loaded: Memory | undefined;
  readonly cpuUsPerRequest?: number;
}

const mib = (bytes: number): string => (bytes / MiB).toFixed(1);
const figures = (memory: Memory | undefined): string[] =>
  memory === undefined ? ['-', '-', '-'] : [mib(memory.rssBytes), mib(memory.anonBytes), mib(memory.fileBytes)];

const HEADER = ['process', 'idle VmRSS MB', 'idle RssAnon MB', 'idle RssFile MB', 'after load VmRSS MB', 'after load RssAnon MB', 'after load RssFile MB', 'CPU µs/req'];

function rows(measured: readonly Row[]): string[][] {
  return measured.map((row) => [row.name, ...figures(row.idle), ...figures(row.loaded), row.cpuUsPerRequest?.toFixed(1) ?? '-']);
}

export function verdicts(proxy: Row, bare: Row): string[] {
  const idle = proxy.idle.anonBytes / MiB;
  const loaded = (proxy.loaded?.anonBytes ?? NaN) / MiB;
  const ratio = proxy.idle.anonBytes / bare.idle.anonBytes;
  const mark = (met: boolean): string => (met ? 'MET' : 'MISSED');
  return [
    `${mark(idle <= GOALS.idleAnonMiB)}: ${proxy.name} idle RssAnon ${idle.toFixed(1)} MB (goal <= ${GOALS.idleAnonMiB} MB)`,
    `${mark(loaded <= GOALS.loadedAnonMiB)}: ${proxy.name} RssAnon right after ${LOAD_SECONDS} s of load ${loaded.toFixed(1)} MB (goal <= ${GOALS.loadedAnonMiB} MB)`,
    `${mark(ratio <= GOALS.idleOverBare)}: ${proxy.name} idle RssAnon ${ratio.toFixed(2)}x bare Node's (goal <= ${GOALS.idleOverBare}x)`,
  ];
}

/** Each load target's idle memory, then, in turn, LOAD_SECONDS of wrk and its memory right after. */
async function measure(targets: readonly Target[]): Promise<Row[]> {
  const idle = targets.map((target) => treeMemory(target.proxyPid!));
  const measured: Row[] = [];
  for (const [index, target] of targets.entries()) {
    await runWrk(target.url, CONNECTIONS, LOAD_SECONDS);
    measured.push({ name: target.name, idle: idle[index], loaded: treeMemory(target.proxyPid!) });
  }
  return measured;
}

async function run(context: BenchContext): Promise<string | undefined> {
  const { appPid, targets } = await startHttp1Targets(context, 'memory');
  const nginx = targets.find((target) => target.name === 'nginx')!;
  const unlimited = targets.find((target) => target.name === 'drain-proxy');
  if (unlimited === undefined) return undefined;
  const appPort = Number(new URL(targets.find((target) => target.name === 'direct')!.url).port);
  const imageEnv = Object.entries(IMAGE_ENV).map(([name, value]) => `${name}=${value}`).join(' ');
  const limits: PodMemory[] = [];
  /** A drain-proxy in a cgroup of its own with the chart's limit, `flags` on top. */
  const podProxy = (flags: readonly string[], name: string): Promise<DrainProxy> => {
    const limit = podMemory();
    limits.push(limit);
    return startDrainProxy(appPort, { env: { ...IMAGE_ENV, ...BENCH_PROXY_ENV }, nodeFlags: [...limit.nodeFlags, ...flags], wrap: limit.wrap, name });
  };
  const bare = start(process.execPath, ['-e', 'setInterval(()=>{},1e3)'], { name: 'bare node' });
  try {
    const pod = await podProxy([], 'drain-proxy in a pod');
    const variant = VARIANT_FLAGS.length > 0 ? await podProxy(VARIANT_FLAGS, 'drain-proxy variant') : undefined;
    await sleep(SETTLE_MS);
    const proxies: Target[] = [
      { name: 'drain-proxy in a pod', url: pod.url('/'), proxyPid: pod.pid },
      ...(variant === undefined ? [] : [{ name: `drain-proxy in a pod, ${VARIANT_FLAGS.join(' ')}`, url: variant.url('/'), proxyPid: variant.pid }]),
      { name: UNLIMITED, url: unlimited.url, proxyPid: unlimited.proxyPid },
    ];
    const all = [...proxies, { ...nginx, name: 'nginx (master + worker)' }];
    const loaded = await measure(all);
    const summaries = summarize(all, await wrkRounds(context, 'memory', all, appPid));
    const unlimitedRuns = runsOf(summaries, UNLIMITED);
    const cpuRatio = (name: string): string => {
      const ratios = pairedRatios(runsOf(summaries, name), unlimitedRuns, (run) => run.proxyCpuUs);
      return `recorded: ${name} uses ${median(ratios).toFixed(2)}x the CPU per request of drain-proxy without a memory limit `
        + `(median of per-round ratios; rounds ${ratios.map((ratio) => ratio.toFixed(2)).join(', ')})`;
    };
    const measured: Row[] = loaded.map((row) => ({ ...row, cpuUsPerRequest: summaries.find((summary) => summary.target === row.name)?.proxyCpuUs }));
    const bareRow: Row = { name: "bare Node (`node -e 'setInterval(()=>{},1e3)'`)", idle: treeMemory(bare.pid), loaded: undefined };
    measured.splice(measured.length - 1, 0, bareRow);
    const lines = [
      ...verdicts(measured[0], bareRow),
      cpuRatio(measured[0].name),
      ...(variant === undefined ? [] : [...verdicts(measured[1], bareRow), cpuRatio(measured[1].name)]),
    ];
    console.log(`\nmemory (MB = MiB, /proc/PID/status):\n${consoleTable(HEADER, rows(measured))}\n\n${lines.join('\n')}`);
    return `${measuredOn(context)}
- Versions: Node ${context.versions.node}, nginx ${context.versions.nginx}, wrk ${context.versions.wrk}
- Load: \`wrk -t1 -c${CONNECTIONS} -d${LOAD_SECONDS}s\` against each proxy in turn (no warm-up), memory read right after it ends;
  idle is ${SETTLE_MS / 1000} s after the processes were ready. Then the CPU per request of each proxy: ${wrkLoad(context)}
- drain-proxy in a pod: the image's environment (${imageEnv}) and ${limits[0].description};
  no memory limit: this ${context.cpus}-CPU machine's own V8 sizing, as the CPU sections run drain-proxy

${markdownTable(HEADER, rows(measured))}

${lines.map((line) => `- **${line}**`).join('\n')}
`;
  } finally {
    // Every process of the run, the in-pod ones with them, so that their cgroups can go.
    await stopAll(3000);
    for (const limit of limits) limit.remove();
  }
}

export const memorySection: BenchSection = { name: 'memory', switch: 'BENCH_MEMORY', markers: markers('memory-results', 'Latest memory run'), run };
