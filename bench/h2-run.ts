// node bench/h2-run.ts (after npm run build): the HTTP/2 part of npm run bench alone (bench/h2.ts), with the
// same BENCH_H2_* and BENCH_ROUNDS knobs; rewrites only the "Latest HTTP/2 run" section of
// docs/benchmarks.md (BENCH_WRITE_DOC=0 leaves it alone), so the HTTP/1.1 and WebSocket sections stay as they are.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { killAllChildrenNow, stopAllChildren } from './children.ts';
import { H2_SECTION, runH2Bench } from './h2.ts';
import { writeResultsSection } from './report.ts';
import { ensureBenchTools, toolVersions } from './tools.ts';

function positiveIntegerFromEnv(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got '${text}'`);
  return value;
}

const settings = {
  durationSeconds: positiveIntegerFromEnv('BENCH_H2_DURATION', 5),
  warmupSeconds: positiveIntegerFromEnv('BENCH_H2_WARMUP', 1),
  clients: positiveIntegerFromEnv('BENCH_H2_CLIENTS', 8),
  streams: positiveIntegerFromEnv('BENCH_H2_STREAMS', 16),
  rounds: positiveIntegerFromEnv('BENCH_ROUNDS', 3),
};
const writeDoc = process.env.BENCH_WRITE_DOC !== '0';

const repoRoot = new URL('..', import.meta.url).pathname;
const docPath = join(repoRoot, 'docs', 'benchmarks.md');
const rawOutputDir = join(repoRoot, '.bench');
/** The body of the HTTP/1.1 bench's app (bench/run.ts), so the sections compare the same response. */
const APP_BODY = '0123456789'.repeat(12);
const tempDir = mkdtempSync(join(tmpdir(), 'drain-proxy-bench-h2-'));

process.on('exit', () => {
  killAllChildrenNow();
  rmSync(tempDir, { recursive: true, force: true });
});
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    interrupted = true;
    console.error(`\n${signal}: stopping`);
    void stopAllChildren().finally(() => process.exit(130));
  });
}

function benchCommand(): string {
  const overrides = Object.entries(process.env).filter(([name]) => name.startsWith('BENCH_')).map(([name, value]) => `${name}=${value}`);
  return [...overrides, 'node bench/h2-run.ts'].join(' ');
}

async function main(): Promise<void> {
  await ensureBenchTools();
  mkdirSync(rawOutputDir, { recursive: true });
  const versions = await toolVersions();
  const cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1].trim() ?? 'unknown CPU';
  const h2 = await runH2Bench({
    settings,
    tempDir,
    rawOutputDir,
    command: benchCommand(),
    cpuModel,
    kernel: release(),
    nginxVersion: versions.nginx,
    body: APP_BODY,
    bodyBytes: Buffer.byteLength(APP_BODY),
  });
  if (writeDoc && h2.markdown !== undefined) {
    writeResultsSection(docPath, h2.markdown, H2_SECTION);
    console.log(`\nHTTP/2 figures recorded in ${docPath}`);
  }
  await stopAllChildren();
}

main().catch(async (error: unknown) => {
  if (interrupted) return;
  console.error(error instanceof Error ? error.stack ?? error.message : error);
  await stopAllChildren();
  process.exitCode = 1;
});
