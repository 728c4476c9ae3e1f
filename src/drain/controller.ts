/**
 * The drain: one timeline, one deadline, no protocol knowledge.
 *
 *   serving ──start()──▶ draining ──t0+DRAIN_DELAY──▶ closing ──last connection gone──▶ drained
 *                           │                            │
 *                           │ readiness fails at t0;     │ listeners closed;
 *                           │ connections told to go     └──t0+DRAIN_TIMEOUT: cut the rest──▶ drained
 *                           │ (registry.startDrain)
 *
 * Listeners stay open during `draining` because endpoint removal reaches
 * kube-proxy, ingress controllers and cloud load balancers seconds after t0:
 * closing at t0 refuses connections that are still routed here. Whoever owns
 * the listeners closes them on the `closing` phase event; whoever owns the
 * process decides what `drained` means for it (exit, or wait for a signal).
 */
import { EventEmitter } from 'node:events';
import type { ConnectionRegistry, CloseReason } from '../listeners/registry.ts';

export const PHASES = ['serving', 'draining', 'closing', 'drained'] as const;
export type Phase = (typeof PHASES)[number];
export type DrainTrigger = 'SIGTERM' | 'SIGINT' | 'admin';

export interface DrainSummary {
  readonly trigger: DrainTrigger;
  readonly durationMs: number;
  readonly requestsCompleted: number;
  readonly closed: Readonly<Record<CloseReason, number>>;
  /** Connections still open at the deadline (or at a forced end) and cut. */
  readonly cut: number;
}

export interface DrainTimings {
  readonly delayMs: number;
  readonly timeoutMs: number;
}

export class DrainController extends EventEmitter<{ phase: [Phase]; drained: [DrainSummary] }> {
  #phase: Phase = 'serving';
  #trigger: DrainTrigger = 'admin';
  #startedAt = 0;
  #completedAtStart = 0;
  #summary: DrainSummary | undefined;
  #delayTimer: NodeJS.Timeout | undefined;
  #deadlineTimer: NodeJS.Timeout | undefined;
  readonly #registry: ConnectionRegistry;
  readonly #timings: DrainTimings;

  constructor(registry: ConnectionRegistry, timings: DrainTimings) {
    super();
    this.#registry = registry;
    this.#timings = timings;
  }

  get phase(): Phase {
    return this.#phase;
  }

  get draining(): boolean {
    return this.#phase !== 'serving';
  }

  get trigger(): DrainTrigger | undefined {
    return this.#phase === 'serving' ? undefined : this.#trigger;
  }

  /** Milliseconds since t0, or undefined while serving. */
  elapsedMs(): number | undefined {
    return this.#phase === 'serving' ? undefined : performance.now() - this.#startedAt;
  }

  get summary(): DrainSummary | undefined {
    return this.#summary;
  }

  /** Starts the drain; later calls change nothing. */
  start(trigger: DrainTrigger): void {
    if (this.#phase !== 'serving') return;
    this.#trigger = trigger;
    this.#startedAt = performance.now();
    this.#completedAtStart = this.#registry.completed;
    this.#setPhase('draining');
    this.#registry.startDrain();
    this.#delayTimer = setTimeout(() => this.#closeListeners(), this.#timings.delayMs);
    this.#deadlineTimer = setTimeout(() => this.#finish(), this.#timings.timeoutMs);
  }

  /** Pulls the deadline in: cut whatever is still open now (a second Ctrl-C). */
  cutNow(): void {
    if (this.#phase === 'serving') this.start('SIGINT');
    if (this.#phase === 'draining') this.#closeListeners();
    this.#finish();
  }

  /** Resolves once the drain has ended, at once if it already has. */
  whenDrained(): Promise<DrainSummary> {
    if (this.#summary !== undefined) return Promise.resolve(this.#summary);
    return new Promise((resolve) => this.once('drained', resolve));
  }

  #closeListeners(): void {
    if (this.#phase !== 'draining') return;
    this.#setPhase('closing');
    if (this.#registry.size === 0) {
      this.#finish();
      return;
    }
    this.#registry.on('empty', this.#onEmpty);
  }

  readonly #onEmpty = (): void => {
    // Let sockets that closed in the same tick release their handles first.
    setImmediate(() => {
      if (this.#registry.size === 0) this.#finish();
    });
  };

  #finish(): void {
    if (this.#phase === 'drained') return;
    clearTimeout(this.#delayTimer);
    clearTimeout(this.#deadlineTimer);
    this.#registry.off('empty', this.#onEmpty);
    const cut = this.#registry.cutAll();
    this.#summary = {
      trigger: this.#trigger,
      durationMs: Math.round(performance.now() - this.#startedAt),
      requestsCompleted: this.#registry.completed - this.#completedAtStart,
      closed: { ...this.#registry.closedDuringDrain },
      cut,
    };
    this.#setPhase('drained');
    this.emit('drained', this.#summary);
  }

  #setPhase(phase: Phase): void {
    this.#phase = phase;
    this.emit('phase', phase);
  }
}
