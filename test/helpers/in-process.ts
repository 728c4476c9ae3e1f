/**
 * The parts an in-process test of the listeners or the metrics needs around
 * them: a logger whose lines are kept, and Metrics over a registry with fixed
 * live state.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Logger } from '../../src/log/index.ts';
import { ConnectionRegistry } from '../../src/listeners/registry.ts';
import { Peer, type Scheme } from '../../src/listeners/peer.ts';
import { Metrics } from '../../src/metrics/index.ts';

/** A logger at `level` whose lines are parsed into `lines`. */
export function recordingLogger(level = 'debug'): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level }, stream), lines };
}

/** The one public port's label in `testMetrics`. */
export const TEST_LISTENER = '8000';

/** A client as the front door would hand it over on TEST_LISTENER. */
export function testPeer(address = '10.0.0.7', scheme: Scheme = 'http'): Peer {
  return new Peer(address, 40_000, scheme, TEST_LISTENER, null);
}

/** Metrics reading `registry` (a new one by default), ready and serving unless told otherwise. */
export function testMetrics(registry = new ConnectionRegistry(), state: { ready?: boolean; memoryPressure?: boolean } = {}): { metrics: Metrics; registry: ConnectionRegistry } {
  const metrics = new Metrics({
    ready: () => state.ready ?? true,
    phase: () => 'serving',
    connections: registry,
    memoryPressure: () => state.memoryPressure ?? false,
    listeners: [TEST_LISTENER],
  });
  return { metrics, registry };
}
