/**
 * Parsers for the value types environment variables may hold. Each returns the
 * parsed value or throws a `ValueError` whose message says what was expected;
 * the schema prefixes it with the variable's name.
 */
export class ValueError extends Error {}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `750ms`, `5s`, `2m`, `1h` or a bare number of seconds; returns milliseconds. */
export function parseDuration(text: string): number {
  const match = DURATION.exec(text.trim());
  if (match === null) {
    throw new ValueError('expected a duration such as 750ms, 5s, 2m or a number of seconds');
  }
  const ms = Number(match[1]) * UNIT_MS[match[2] ?? 's'];
  if (!Number.isFinite(ms) || ms > 2_147_483_647) {
    throw new ValueError('expected a duration below 24 days');
  }
  return Math.round(ms);
}

export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

export function parsePort(text: string): number {
  const port = parseInteger(text, 1, 65535, 'expected a TCP port between 1 and 65535');
  return port;
}

export function parseInteger(text: string, min: number, max: number, expected: string): number {
  if (!/^\d+$/.test(text.trim())) throw new ValueError(expected);
  const value = Number(text.trim());
  if (value < min || value > max) throw new ValueError(expected);
  return value;
}

/** A parser for a count of `what` from `min` to `max`, whose error says so. */
export function countOf(what: string, min: number, max: number): (text: string) => number {
  const expected = `expected a number of ${what} between ${min} and ${max}`;
  return (text) => parseInteger(text, min, max, expected);
}

const SIZE = /^(\d+)(k|kb|kib|m|mb|mib)?$/i;

/** Bytes, with an optional k/KiB or m/MiB suffix (powers of 1024). */
export function parseSize(text: string, min: number, max: number): number {
  const match = SIZE.exec(text.trim());
  const expected = `expected a size in bytes between ${min} and ${max} (suffix k or m allowed)`;
  if (match === null) throw new ValueError(expected);
  const unit = (match[2] ?? '').toLowerCase();
  const bytes = Number(match[1]) * (unit.startsWith('m') ? 1 << 20 : unit.startsWith('k') ? 1 << 10 : 1);
  if (bytes < min || bytes > max) throw new ValueError(expected);
  return bytes;
}

export function parseChoice<T extends string>(text: string, choices: readonly T[]): T {
  const value = text.trim().toLowerCase();
  const found = choices.find((choice) => choice === value);
  if (found === undefined) throw new ValueError(`expected one of ${choices.join(', ')}`);
  return found;
}

export function parseBoolean(text: string): boolean {
  const value = text.trim().toLowerCase();
  if (['1', 'true', 'on', 'yes'].includes(value)) return true;
  if (['0', 'false', 'off', 'no'].includes(value)) return false;
  throw new ValueError('expected on or off (true/false, 1/0 also accepted)');
}
