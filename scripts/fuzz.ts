/**
 * `npm run fuzz`: the property tests of the two parsers that read hostile
 * bytes, at scale, bounded by time rather than by a count of runs: the
 * HTTP/1.1 framer against llhttp (test/http1/differential.test.ts) and the
 * PROXY header parser (test/listeners/proxy-protocol.test.ts), each for half
 * the time. One worker per CPU, each with its own seed; every worker runs each
 * target's properties for an equal share of its time, then the totals are
 * printed.
 *
 *   npm run fuzz                      # 2 minutes, one worker per CPU
 *   npm run fuzz -- --seconds 600 --workers 1
 *   FUZZ_SEED=123 npm run fuzz -- --workers 1    # replay a reported seed
 *
 * A failure prints fast-check's report (seed, path, shrunk counterexample) and
 * appends the counterexample to .fuzz/failures.jsonl: add it to REGRESSIONS in
 * the test file once understood. Exit code 1 when any property failed.
 */
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseFlags } from '../harness/cli.ts';

const USAGE = 'usage: npm run fuzz -- [--seconds N (default 120)] [--workers N (default: CPUs)]';
const values = parseFlags(USAGE, {
  seconds: { type: 'string', default: process.env.FUZZ_SECONDS ?? '120' },
  workers: { type: 'string', default: String(availableParallelism()) },
});
const seconds = Number(values.seconds);
const workers = Number.parseInt(values.workers, 10);
if (!(seconds > 0) || !(workers >= 1)) {
  process.stderr.write(`${USAGE}\n`);
  process.exit(2);
}

const root = new URL('..', import.meta.url);
const targets = ['test/http1/differential.test.ts', 'test/listeners/proxy-protocol.test.ts'].map((path) => fileURLToPath(new URL(path, root)));
const failuresFile = fileURLToPath(new URL('.fuzz/failures.jsonl', root));

interface FuzzResult {
  name: string;
  runs: number;
  seconds: number;
  seed: number;
  failed: boolean;
  counterexample: unknown;
}

process.stdout.write(`fuzzing the HTTP/1.1 framer against llhttp and the PROXY header parser: ${seconds} s, ${workers} worker(s)\n`);
const startedAt = performance.now();

interface WorkerRun {
  results: FuzzResult[];
  code: number | null;
  output: string;
}

/** Worker `index` through every target in turn: its results, and the first non-zero exit code. */
async function worker(index: number): Promise<WorkerRun> {
  const run: WorkerRun = { results: [], code: 0, output: '' };
  for (const target of targets) {
    const one = await fuzzTarget(index, target);
    run.results.push(...one.results);
    run.output += one.output;
    if (run.code === 0) run.code = one.code;
  }
  return run;
}

function fuzzTarget(index: number, target: string): Promise<WorkerRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--test-reporter=tap', target], {
      env: { ...process.env, FUZZ_SECONDS: String(seconds / targets.length), FUZZ_FAILURES: failuresFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const results: FuzzResult[] = [];
    let output = '';
    let pending = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      output += text;
      pending += text;
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        const at = line.indexOf('FUZZ_RESULT ');
        if (at < 0) continue;
        const result = JSON.parse(line.slice(at + 'FUZZ_RESULT '.length)) as FuzzResult;
        results.push(result);
        const verdict = result.failed ? 'FAILED' : 'ok';
        process.stdout.write(
          `[worker ${index}] ${result.name.padEnd(26)} ${String(result.runs).padStart(9)} runs in ${result.seconds.toFixed(1)} s, seed ${result.seed}: ${verdict}\n`,
        );
      }
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => (output += text));
    child.once('exit', (code) => resolve({ results, code, output }));
  });
}

const done = await Promise.all(Array.from({ length: workers }, (_, i) => worker(i + 1)));
const runs = done.reduce((sum, w) => sum + w.results.reduce((s, r) => s + r.runs, 0), 0);
const failures = done.flatMap((w) => w.results.filter((r) => r.failed));
// A worker that failed outside a property (a regression case, a crash) has a non-zero exit without a failed result.
const brokenWorkers = done.filter((w) => w.code !== 0 && !w.results.some((r) => r.failed));
const elapsed = (performance.now() - startedAt) / 1000;

for (const w of done) {
  if (w.code !== 0) process.stdout.write(`\n---- worker output (exit ${w.code}) ----\n${w.output}\n`);
}
process.stdout.write(
  `\n${runs} inputs in ${elapsed.toFixed(1)} s (${Math.round(runs / elapsed)}/s), ${failures.length} failure(s)` +
    (brokenWorkers.length > 0 ? `, ${brokenWorkers.length} worker(s) failed outside the properties` : '') +
    '\n',
);
if (failures.length > 0) process.stdout.write(`counterexamples appended to ${failuresFile}\n`);
process.exit(failures.length > 0 || brokenWorkers.length > 0 ? 1 : 0);
