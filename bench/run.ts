// npm run bench [-- SECTION...]: the bench's sections one after the other, each recorded in its own section of
// docs/benchmarks.md (BENCH_WRITE_DOC=0 leaves it alone); naming sections runs only those. Sections:
//   http1      wrk direct, through nginx and through drain-proxy: req/s, p99, each proxy's CPU per request (bench/http1.ts)
//   websocket  echo round trips and CPU per round trip, memory per idle WebSocket (bench/websocket.ts; BENCH_WS=0 skips it)
//   h2         h2load direct and through nginx and drain-proxy with either upstream protocol (bench/h2.ts; BENCH_H2=0)
//   memory     VmRSS, RssAnon, RssFile of drain-proxy, bare Node and nginx, idle and after 10 s of wrk (bench/memory.ts; BENCH_MEMORY=0)
//   connections  the http1 section with every request on a new connection (bench/new-connections.ts; BENCH_NEW_CONNECTIONS=0)
//   latency    h2load --h1 at a fixed rate: the latency each HTTP/1.1 target adds (bench/latency.ts; BENCH_LATENCY=0)
//   startup    spawn to /readyz 200, beside bare Node listening (bench/startup.ts; BENCH_STARTUP=0)
//   tls        HTTPS/1.1 and HTTP/2 over TLS through nginx and drain-proxy terminating TLS alike: CPU per request (bench/tls.ts; BENCH_TLS=0)
import { availableParallelism, release } from 'node:os';
import { runMain, scratchDir } from '../harness/cli.ts';
import { drainProxyBuilt, MAIN } from '../harness/drain-proxy.ts';
import { cpuModel } from '../harness/proc.ts';
import { stopAll } from '../harness/processes.ts';
import { h2Section } from './h2.ts';
import { http1Section } from './http1.ts';
import { latencySection } from './latency.ts';
import { memorySection } from './memory.ts';
import { newConnectionsSection } from './new-connections.ts';
import { benchCommand, docPath, positiveIntegerFromEnv, writeResultsSection, type BenchContext } from './session.ts';
import { startupSection } from './startup.ts';
import { tlsSection } from './tls.ts';
import { ensureBenchTools, toolVersions } from './tools.ts';
import { webSocketSection } from './websocket.ts';

const SECTIONS = [http1Section, memorySection, webSocketSection, h2Section, newConnectionsSection, latencySection, startupSection, tlsSection];

async function main(): Promise<number> {
  const named = process.argv.slice(2);
  const unknown = named.filter((name) => !SECTIONS.some((section) => section.name === name));
  if (unknown.length > 0) throw new Error(`unknown bench section ${unknown.join(', ')}: the sections are ${SECTIONS.map((s) => s.name).join(', ')}`);
  const sections = named.length > 0
    ? SECTIONS.filter((section) => named.includes(section.name))
    : SECTIONS.filter((section) => section.switch === undefined || process.env[section.switch] !== '0');
  ensureBenchTools();
  const context: BenchContext = {
    tempDir: scratchDir('drain-proxy-bench-'),
    command: benchCommand(process.env.npm_lifecycle_event === 'bench'
      ? `npm run bench${named.length > 0 ? ` -- ${named.join(' ')}` : ''}`
      : ['node bench/run.ts', ...named].join(' ')),
    cpus: availableParallelism(),
    cpuModel: cpuModel(),
    kernel: release(),
    versions: await toolVersions(),
    rounds: positiveIntegerFromEnv('BENCH_ROUNDS', 3),
  };
  for (const section of sections) {
    if (section.needsDrainProxy === true && !drainProxyBuilt()) {
      console.warn(`warning: ${MAIN} does not exist; no ${section.name} figures`);
      continue;
    }
    const markdown = await section.run(context);
    // The section's targets would only sit idle through the next one's figures.
    await stopAll(3000);
    if (process.env.BENCH_WRITE_DOC === '0') continue;
    if (markdown === undefined) {
      console.log(`\n${docPath}: its ${section.name} section left as it was: drain-proxy was not measured`);
    } else {
      writeResultsSection(docPath, markdown, section.markers);
      console.log(`\n${section.name} figures recorded in ${docPath}`);
    }
  }
  return 0;
}

runMain('bench', main);
