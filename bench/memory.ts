// The memory section of npm run bench (`npm run bench -- memory`): VmRSS, RssAnon (private) and RssFile of drain-proxy,
// bare Node (`node -e 'setInterval(()=>{},1e3)'`) and nginx (master and worker), idle and right after 10 s of the
// HTTP/1.1 section's wrk load, with verdicts on drain-proxy's private memory. drain-proxy runs as the HTTP/1.1 section
// starts it (V8's own heap sizing for this machine, glibc's default arenas; the image sets MALLOC_ARENA_MAX=2) and, as
// a second row, with a capped young generation and one malloc arena (MEMORY_VARIANT_FLAGS / MEMORY_VARIANT_ARENAS),
// the measured candidate for the image's command.
import { setTimeout as sleep } from 'node:timers/promises';
import { startDrainProxy } from '../harness/drain-proxy.ts';
import { treeMemory, type Memory } from '../harness/proc.ts';
import { start } from '../harness/processes.ts';
import { markdownTable, consoleTable } from '../harness/tables.ts';
import { startHttp1Targets } from './http1.ts';
import { BENCH_PROXY_ENV, markers, measuredOn, positiveIntegerFromEnv, type BenchContext, type BenchSection } from './session.ts';
import { runWrk } from './wrk.ts';

const LOAD_SECONDS = positiveIntegerFromEnv('BENCH_DURATION', 10);
const CONNECTIONS = positiveIntegerFromEnv('BENCH_CONNECTIONS', 32);
/** Time for start-up work (the first health check, the first timers) to settle before the idle figure. */
const SETTLE_MS = 3000;
const MiB = 1024 * 1024;

export const GOALS = { idleAnonMiB: 16, loadedAnonMiB: 24, idleOverBare: 2 };
const VARIANT_FLAGS = (process.env.MEMORY_VARIANT_FLAGS ?? '--max-semi-space-size=2').split(' ').filter(Boolean);
const VARIANT_ENV = { MALLOC_ARENA_MAX: process.env.MEMORY_VARIANT_ARENAS ?? '1' };

interface Row {
  readonly name: string;
  readonly idle: Memory;
  readonly loaded: Memory | undefined;
}

const mib = (bytes: number): string => (bytes / MiB).toFixed(1);
const figures = (memory: Memory | undefined): string[] =>
  memory === undefined ? ['-', '-', '-'] : [mib(memory.rssBytes), mib(memory.anonBytes), mib(memory.fileBytes)];

const HEADER = ['process', 'idle VmRSS MB', 'idle RssAnon MB', 'idle RssFile MB', 'after load VmRSS MB', 'after load RssAnon MB', 'after load RssFile MB'];

function rows(measured: readonly Row[]): string[][] {
  return measured.map((row) => [row.name, ...figures(row.idle), ...figures(row.loaded)]);
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

async function run(context: BenchContext): Promise<string | undefined> {
  const { targets } = await startHttp1Targets(context, 'memory');
  const nginx = targets.find((target) => target.name === 'nginx')!;
  const shipped = targets.find((target) => target.name === 'drain-proxy');
  if (shipped === undefined) return undefined;
  const appPort = Number(new URL(targets.find((target) => target.name === 'direct')!.url).port);
  const variant = await startDrainProxy(appPort, { env: { ...BENCH_PROXY_ENV, ...VARIANT_ENV }, nodeFlags: VARIANT_FLAGS, name: 'drain-proxy variant' });
  const bare = start(process.execPath, ['-e', 'setInterval(()=>{},1e3)'], { name: 'bare node' });
  await sleep(SETTLE_MS);
  const loadTargets = [
    { name: 'drain-proxy', url: shipped.url, pid: shipped.proxyPid! },
    { name: `drain-proxy ${VARIANT_FLAGS.join(' ')} MALLOC_ARENA_MAX=${VARIANT_ENV.MALLOC_ARENA_MAX}`, url: variant.url('/'), pid: variant.pid },
    { name: 'nginx (master + worker)', url: nginx.url, pid: nginx.proxyPid! },
  ];
  const idle = new Map(loadTargets.map((target) => [target.name, treeMemory(target.pid)]));
  const bareRow: Row = { name: "bare Node (`node -e 'setInterval(()=>{},1e3)'`)", idle: treeMemory(bare.pid), loaded: undefined };
  const measured: Row[] = [];
  for (const target of loadTargets) {
    await runWrk(target.url, CONNECTIONS, LOAD_SECONDS);
    measured.push({ name: target.name, idle: idle.get(target.name)!, loaded: treeMemory(target.pid) });
  }
  measured.splice(2, 0, bareRow);
  const lines = [...verdicts(measured[0], bareRow), ...verdicts(measured[1], bareRow)];
  console.log(`\nmemory (MB = MiB, /proc/PID/status):\n${consoleTable(HEADER, rows(measured))}\n\n${lines.join('\n')}`);
  return `${measuredOn(context)}
- Versions: Node ${context.versions.node}, nginx ${context.versions.nginx}, wrk ${context.versions.wrk}
- Load: \`wrk -t1 -c${CONNECTIONS} -d${LOAD_SECONDS}s\` against each proxy in turn (no warm-up), memory read right after it ends;
  idle is ${SETTLE_MS / 1000} s after the processes were ready

${markdownTable(HEADER, rows(measured))}

${lines.map((line) => `- **${line}**`).join('\n')}
`;
}

export const memorySection: BenchSection = { name: 'memory', switch: 'BENCH_MEMORY', markers: markers('memory-results', 'Latest memory run'), run };
