// A node:http2 client as a load generator (`node bench/node-h2-client.ts APP_PORT STREAMS WARMUP_S DURATION_S`):
// one session to the app, STREAMS GETs in flight, each response read to its end; prints `start` after the
// warm-up and `result {json}` (operations, per second) after the measured seconds, then exits. Its own CPU per
// request is what a node:http2 proxy's app leg costs alone (bench/h2-floor.ts). It measures no latency (0).
import { connect } from 'node:http2';
import type { ToolResult } from '../harness/bench.ts';

const [appPort, streams, warmupSeconds, durationSeconds] = process.argv.slice(2).map(Number);
const session = connect(`http://127.0.0.1:${appPort}`);
let completed = 0;
let errors = 0;

function one(): void {
  const stream = session.request({ ':path': '/' });
  stream.on('error', () => errors++);
  stream.on('data', () => {});
  stream.on('end', () => {
    completed++;
    one();
  });
}

session.on('connect', () => {
  for (let i = 0; i < streams; i++) one();
  setTimeout(() => {
    const from = completed;
    const errorsFrom = errors;
    console.log('start');
    setTimeout(() => {
      const operations = completed - from;
      const result: ToolResult = { operations, perSecond: operations / durationSeconds, latencyMs: 0, errors: errors - errorsFrom };
      console.log(`result ${JSON.stringify(result)}`);
      process.exit(0);
    }, durationSeconds * 1000);
  }, warmupSeconds * 1000);
});
