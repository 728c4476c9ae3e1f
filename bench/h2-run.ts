// node bench/h2-run.ts (after npm run build): the HTTP/2 part of npm run bench alone (bench/h2.ts), with the
// same BENCH_H2_* and BENCH_ROUNDS knobs; rewrites only the "Latest HTTP/2 run" section of
// docs/benchmarks.md (BENCH_WRITE_DOC=0 leaves it alone), so the HTTP/1.1 and WebSocket sections stay as they are.
import { mkdirSync } from 'node:fs';
import { release } from 'node:os';
import { cpuModel } from '../harness/proc.ts';
import { runMain, scratchDir } from '../harness/cli.ts';
import { recordH2Bench } from './h2.ts';
import { APP_BODY, benchCommand, docPath, h2SettingsFromEnv, rawOutputDir } from './session.ts';
import { ensureBenchTools, toolVersions } from './tools.ts';

const settings = h2SettingsFromEnv();
const writeDoc = process.env.BENCH_WRITE_DOC !== '0';
const tempDir = scratchDir('drain-proxy-bench-h2-');

async function main(): Promise<number> {
  ensureBenchTools();
  mkdirSync(rawOutputDir, { recursive: true });
  const versions = await toolVersions();
  await recordH2Bench({
    settings,
    tempDir,
    rawOutputDir,
    command: benchCommand('node bench/h2-run.ts'),
    cpuModel: cpuModel(),
    kernel: release(),
    nginxVersion: versions.nginx,
    body: APP_BODY,
    bodyBytes: Buffer.byteLength(APP_BODY),
  }, writeDoc ? docPath : undefined);
  return 0;
}

runMain('bench', main);
