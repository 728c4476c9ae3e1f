/**
 * A body from one stream to another with backpressure, for the HTTP/2
 * forwarders: what `source.pipe(sink)` does for them, at a fraction of its
 * cost. `pipe()` hangs seven listeners on the two streams per body (every one
 * of them also passing through node:http2's `newListener` hook) and takes
 * them off again at the end; here the source gets `data` and `end`, the sink
 * `drain` only once it has pushed back, all module-level functions.
 *
 *   source 'data' ──▶ sink.write(chunk) ── false ──▶ source.pause()
 *   sink 'drain'  ──▶ source.resume()
 *   source 'end'  ──▶ sink.end()   (END_STREAM, or the trailers first)
 *
 * Failures are not its business: each forwarder resets or aborts the other
 * side when either stream closes, so a sink that has gone away only stops
 * taking chunks.
 */
import type { Readable, Writable } from 'node:stream';

const kSink = Symbol('drain-proxy.pump.sink');
const kSource = Symbol('drain-proxy.pump.source');

interface PumpSource extends Readable {
  [kSink]: PumpSink;
}

interface PumpSink extends Writable {
  [kSource]: PumpSource | undefined;
}

/** Forwards `source`'s body to `sink`, ending it after the last chunk. */
export function pump(source: Readable, sink: Writable): void {
  (source as PumpSource)[kSink] = sink as PumpSink;
  (sink as PumpSink)[kSource] = undefined;
  source.on('data', sourceOnData);
  source.on('end', sourceOnEnd);
}

function sourceOnData(this: PumpSource, chunk: Buffer): void {
  const sink = this[kSink];
  if (sink.destroyed || sink.writableEnded) return;
  if (sink.write(chunk)) return;
  this.pause();
  if (sink[kSource] === undefined) sink.on('drain', sinkOnDrain);
  sink[kSource] = this;
}

function sinkOnDrain(this: PumpSink): void {
  this[kSource]?.resume();
}

function sourceOnEnd(this: PumpSource): void {
  const sink = this[kSink];
  if (!sink.destroyed && !sink.writableEnded) sink.end();
}
