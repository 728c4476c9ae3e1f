// node bench/h2-run.ts (after npm run build): the HTTP/2 part of npm run bench alone (bench/h2.ts), with the
// same BENCH_H2_* and BENCH_ROUNDS knobs; rewrites only the "Latest HTTP/2 run" section of
// docs/benchmarks.md (BENCH_WRITE_DOC=0 leaves it alone), so the HTTP/1.1 and WebSocket sections stay as they are.
import { mkdirSync } from 'node:fs';
import { release } from 'node:os';
import { stopAllChildren } from './children.ts';
import { H2_SECTION, runH2Bench } from './h2.ts';
import { writeResultsSection } from './report.ts';
import { APP_BODY, benchCommand, benchSession, cpuModel, docPath, h2SettingsFromEnv, rawOutputDir } from './session.ts';
import { ensureBenchTools, toolVersions } from './tools.ts';

const settings = h2SettingsFromEnv();
const writeDoc = process.env.BENCH_WRITE_DOC !== '0';
const { tempDir, interrupted } = benchSession('drain-proxy-bench-h2-');

async function main(): Promise<void> {
  await ensureBenchTools();
  mkdirSync(rawOutputDir, { recursive: true });
  const versions = await toolVersions();
  const h2 = await runH2Bench({
    settings,
    tempDir,
    rawOutputDir,
    command: benchCommand('node bench/h2-run.ts'),
    cpuModel: cpuModel(),
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
  if (interrupted()) return;
  console.error(error instanceof Error ? error.stack ?? error.message : error);
  await stopAllChildren();
  process.exitCode = 1;
});
