/**
 * What every command-line entry point (demo, rollout, bench, soak) does the same way: settings read
 * from flags or the environment, a temp dir removed at exit, and its tail. SIGINT, SIGTERM and SIGHUP
 * stop the run's processes and exit 130; a watchdog ends a run that overruns (exit 1); once `main` is
 * over, whatever its outcome, every child is stopped and the process exits with `main`'s code.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { killAllNow, stopAll } from './processes.ts';

export function runMain(what: string, main: () => Promise<number>, watchdogMs?: number): void {
  let interrupted = false;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (interrupted) return;
      interrupted = true;
      console.error(`\n${signal}: stopping the ${what}'s processes`);
      void stopAll(2000).finally(() => process.exit(130));
    });
  }
  if (watchdogMs !== undefined) {
    setTimeout(() => {
      console.error(`${what} took longer than ${watchdogMs / 1000} s: giving up`);
      killAllNow();
      process.exit(1);
    }, watchdogMs).unref();
  }
  main()
    .catch((err: unknown) => {
      if (!interrupted) console.error(`${what} failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      return 1;
    })
    .then(async (code) => {
      await stopAll(5000);
      if (!interrupted) process.exit(code);
    });
}

/** A fresh temp dir, removed when the process exits. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A number setting (`--flag` or `ENV_VAR`, named as the user wrote it) within [min, max]; `fallback` when unset. */
export function numberSetting(name: string, text: string | undefined, fallback: number, min: number, max: number, integer = true): number {
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < min || value > max) {
    throw new Error(`${name} must be ${integer ? 'an integer' : 'a number'} ${max === Infinity ? `>= ${min}` : `in ${min}..${max}`}, got '${text}'`);
  }
  return value;
}

/**
 * Command-line flags (`node:util` parseArgs, strict): `--help` prints `usage` and exits 0; an unknown or malformed
 * flag prints parseArgs' one-line error and `usage` to stderr and exits 2, rather than a stack trace.
 */
export function parseFlags<T extends ParseArgsConfig['options']>(usage: string, options: T): ReturnType<typeof parseArgs<{ options: T }>>['values'] {
  if (process.argv.slice(2).includes('--help')) {
    console.log(usage);
    process.exit(0);
  }
  try {
    return parseArgs({ options }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${usage}\n`);
    process.exit(2);
  }
}
