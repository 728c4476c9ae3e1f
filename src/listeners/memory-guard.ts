/**
 * MEMORY_LIMIT: the last line against the kubelet's OOM kill, which would cut
 * every connection of the pod at once. Every buffer has a bound per
 * connection; this bounds what many connections hold together.
 *
 *   resident memory ≥ 90% of the limit ──▶ under pressure:
 *       new connections are closed as soon as accepted (like MAX_CONNECTIONS),
 *       and the connections holding the most buffered bytes are closed, largest
 *       first, enough to cover the excess over the low mark
 *   resident memory < 80% ──▶ accepting again
 *
 * The marks leave the chart's sizing its room: its 256 Mi limit covers 10,000
 * idle connections (MAX_CONNECTIONS) at about 81% (208 MiB measured).
 *
 * Readiness is left alone: failing it would only move the abuse to the next
 * pod, and the connections it would drain are the well-behaved ones. Resident
 * memory (VmRSS) is what the container is charged for; it is read every
 * 250 ms (`process.memoryUsage.rss()`, one read of /proc/self/stat), never on
 * the request path. Shedding happens at most once a second: freed memory
 * shows in RSS only after the next garbage collection.
 */
import type { MemoryLimit } from '../config/schema.ts';
import type { Logger } from '../log/index.ts';
import type { ConnectionRegistry, TrackedConnection } from './registry.ts';
import type { ConnectionLimit } from './connection-limit.ts';

export const HIGH_MARK = 0.9;
export const LOW_MARK = 0.8;
const CHECK_INTERVAL_MS = 250;
const SHED_INTERVAL_MS = 1000;
/** Connections holding less than this are never shed: closing them would free next to nothing. */
const SHED_MIN_BYTES = 64 * 1024;

export interface MemoryGuardContext {
  readonly registry: ConnectionRegistry;
  readonly limit: ConnectionLimit;
  /** Called once per connection shed (the metric). */
  readonly shed: () => void;
  readonly logger: Logger;
  /** Resident memory now, in bytes (tests pass their own). */
  readonly residentBytes?: () => number;
}

/**
 * MEMORY_LIMIT in bytes, 0 for none: `auto` is the cgroup's limit as Node reads it (`process.constrainedMemory()`),
 * none when there is no limit (Node then reports 0, or a figure no machine has).
 */
export function resolveMemoryLimit(limit: MemoryLimit): number {
  if (limit !== 'auto') return limit;
  const constrained = process.constrainedMemory();
  return constrained > 0 && constrained < 2 ** 53 ? constrained : 0;
}

export class MemoryGuard {
  readonly limitBytes: number;
  readonly #highBytes: number;
  readonly #lowBytes: number;
  readonly #ctx: MemoryGuardContext;
  readonly #resident: () => number;
  #underPressure = false;
  #shedAt = -Infinity;
  #timer: NodeJS.Timeout | undefined;

  /** `limitBytes` is MEMORY_LIMIT, resolved (0: no guard; `start()` then does nothing). */
  constructor(limitBytes: number, ctx: MemoryGuardContext) {
    this.limitBytes = limitBytes;
    this.#highBytes = limitBytes * HIGH_MARK;
    this.#lowBytes = limitBytes * LOW_MARK;
    this.#ctx = ctx;
    this.#resident = ctx.residentBytes ?? process.memoryUsage.rss;
  }

  get underPressure(): boolean {
    return this.#underPressure;
  }

  start(): void {
    if (this.limitBytes === 0 || this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.check(performance.now()), CHECK_INTERVAL_MS).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One look at resident memory (the timer's; tests call it with their own clock). */
  check(now: number): void {
    const resident = this.#resident();
    const { logger, limit } = this.#ctx;
    if (!this.#underPressure) {
      if (resident < this.#highBytes) return;
      this.#underPressure = true;
      limit.memoryPressure = true;
      logger.warn({ residentBytes: resident, limitBytes: this.limitBytes, connections: this.#ctx.registry.size }, 'memory above 90% of MEMORY_LIMIT: refusing new connections, shedding the most expensive');
    } else if (resident < this.#lowBytes) {
      this.#underPressure = false;
      limit.memoryPressure = false;
      logger.warn({ residentBytes: resident, limitBytes: this.limitBytes }, 'memory below 80% of MEMORY_LIMIT: accepting connections again');
      return;
    }
    if (now - this.#shedAt >= SHED_INTERVAL_MS) this.#shedLargest(resident - this.#lowBytes, now);
  }

  /** Closes the connections holding the most buffered bytes, largest first, until they cover `excess` (at least one). */
  #shedLargest(excess: number, now: number): void {
    const candidates: Array<{ connection: TrackedConnection; bytes: number }> = [];
    for (const connection of this.#ctx.registry.connections()) {
      const bytes = connection.bufferedBytes();
      if (bytes >= SHED_MIN_BYTES) candidates.push({ connection, bytes });
    }
    if (candidates.length === 0) return;
    this.#shedAt = now;
    candidates.sort((a, b) => b.bytes - a.bytes);
    let freed = 0;
    let shed = 0;
    for (const { connection, bytes } of candidates) {
      if (shed > 0 && freed >= excess) break;
      connection.shed();
      this.#ctx.shed();
      freed += bytes;
      shed++;
    }
    this.#ctx.logger.warn({ shed, bufferedBytes: freed, largest: candidates[0].bytes, excessBytes: Math.round(excess) }, 'memory pressure: connections holding the most buffered bytes closed');
  }
}
