// What every bench section shares: settings from BENCH_* variables, what it reports about the run and the
// machine, the drain-proxy and the body each section measures, and its marked section of docs/benchmarks.md.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { numberSetting } from '../harness/cli.ts';

export function positiveIntegerFromEnv(name: string, fallback: number): number {
  return numberSetting(name, process.env[name], fallback, 1, Infinity);
}

const repoRoot = new URL('..', import.meta.url).pathname;
export const docPath = join(repoRoot, 'docs', 'benchmarks.md');
// .bench/ is git-ignored; raw tool output lands there for a second look at odd figures.
export const rawOutputDir = join(repoRoot, '.bench');

/** What every bench section reports about the run and the machine, and where it may write. */
export interface BenchContext {
  readonly tempDir: string;
  readonly command: string;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly kernel: string;
  readonly versions: { readonly node: string; readonly nginx: string; readonly wrk: string; readonly h2load: string };
  readonly rounds: number;
}

/** A section of the bench: what it prints, and the markdown it records between its markers in docs/benchmarks.md. */
export interface BenchSection {
  /** The name that selects it on the command line (`node bench/run.ts h2`). */
  readonly name: string;
  /** Off when this variable is 0. */
  readonly switch?: string;
  readonly markers: SectionMarkers;
  /** Skipped, with a warning, when dist/main.js is not built: without drain-proxy it has nothing to measure. */
  readonly needsDrainProxy?: boolean;
  /** Resolves with the section's markdown, or undefined when drain-proxy was not measured. */
  run(context: BenchContext): Promise<string | undefined>;
}

/**
 * drain-proxy as every section runs it: its defaults (the health check's interval too, which the launcher otherwise
 * shortens), quiet, and stopped at once (nothing is in flight when the bench stops it).
 */
export const BENCH_PROXY_ENV = { LOG_LEVEL: 'warn', HEALTH_INTERVAL: '1s', DRAIN_DELAY: '0s', DRAIN_TIMEOUT: '2s' };

/**
 * The environment the image gives drain-proxy (the Dockerfile's `ENV` lines), so that a section runs it as a container
 * does; `npm run image` builds from the same lines.
 */
export const IMAGE_ENV: Readonly<Record<string, string>> = Object.fromEntries(
  [...readFileSync(join(repoRoot, 'Dockerfile'), 'utf8').matchAll(/^ENV (\w+)=(\S+)$/gm)].map(([, name, value]) => [name, value]),
);

/** The body every section's app answers with, so that the sections compare the same response. */
export const APP_BODY = '0123456789'.repeat(12);

/** The overrides in effect (`BENCH_*`, and variables starting with the other `prefixes`), then `command`: how to run this bench again. */
export function benchCommand(command: string, prefixes: readonly string[] = []): string {
  const overrides = Object.entries(process.env)
    .filter(([name]) => ['BENCH_', ...prefixes].some((prefix) => name.startsWith(prefix)))
    .map(([name, value]) => `${name}=${value}`);
  return [...overrides, command].join(' ');
}

/** The first lines of every section: when, with what command, on what machine. */
export function measuredOn(context: BenchContext): string {
  return `Measured ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} with \`${context.command}\`.

- Machine: ${context.cpus} CPUs (${context.cpuModel}), Linux ${context.kernel}`;
}

export function writeRawOutput(name: string, content: string): void {
  mkdirSync(rawOutputDir, { recursive: true });
  writeFileSync(join(rawOutputDir, name), content);
}

export interface SectionMarkers {
  readonly begin: string;
  readonly end: string;
  /** The heading put above the section when the doc does not have it yet. */
  readonly heading: string;
}

/** The markers of a section named `name` (`bench-results` for the HTTP/1.1 one), rewritten by `command`. */
export function markers(name: string, heading: string, command = 'npm run bench'): SectionMarkers {
  return { begin: `<!-- ${name}:begin (rewritten by ${command}) -->`, end: `<!-- ${name}:end -->`, heading };
}

/** Replaces the marked results section of the doc, leaving the hand-written text around it alone. */
export function writeResultsSection(path: string, section: string, sectionMarkers: SectionMarkers): void {
  const block = `${sectionMarkers.begin}\n${section}${sectionMarkers.end}`;
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `# Benchmarks\n\n## ${sectionMarkers.heading}\n\n${block}\n`);
    return;
  }
  const text = readFileSync(path, 'utf8');
  const begin = text.indexOf(sectionMarkers.begin);
  const end = text.indexOf(sectionMarkers.end);
  const updated = begin === -1 || end === -1 || end < begin
    ? `${text.trimEnd()}\n\n## ${sectionMarkers.heading}\n\n${block}\n`
    : text.slice(0, begin) + block + text.slice(end + sectionMarkers.end.length);
  writeFileSync(path, updated);
}
