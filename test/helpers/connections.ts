/**
 * A connection with no sockets, for tests of what works on the registry (the
 * drain controller, the memory guard, the registry itself): it records what
 * it was asked and holds a given number of buffered bytes.
 */
import type { CloseReason, ConnectionRegistry, Protocol, TrackedConnection } from '../../src/listeners/registry.ts';

export class FakeConnection implements TrackedConnection {
  readonly protocol: Protocol;
  drained = 0;
  cutCount = 0;
  shedCount = 0;
  readonly #registry: ConnectionRegistry;
  readonly #bytes: number;

  /** Added to `registry` at once. */
  constructor(registry: ConnectionRegistry, { protocol = 'http1', bytes = 0 }: { protocol?: Protocol; bytes?: number } = {}) {
    this.protocol = protocol;
    this.#registry = registry;
    this.#bytes = bytes;
    registry.add(this);
  }

  startDrain(): void {
    this.drained++;
  }

  cut(): void {
    this.cutCount++;
    this.close('drain_deadline');
  }

  shed(): void {
    this.shedCount++;
    this.close('memory_shed');
  }

  bufferedBytes(): number {
    return this.#bytes;
  }

  close(reason: CloseReason): void {
    this.#registry.remove(this, reason);
  }
}
