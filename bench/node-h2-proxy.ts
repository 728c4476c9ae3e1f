// The smallest proxy node:http2 allows (`node bench/node-h2-proxy.ts PORT APP_PORT`): every client stream a
// stream on one session to the app, headers passed as the lists they came in, bodies written as they come; no
// header work, no trailers, no limits, no bookkeeping. What joining node:http2's two legs costs at the least
// (bench/h2-floor.ts); not a proxy to run: it forwards hop-by-hop fields and has no flow control of its own.
import { connect, createServer } from 'node:http2';

const [port, appPort] = process.argv.slice(2).map(Number);
const app = connect(`http://127.0.0.1:${appPort}`);
const server = createServer();
server.on('stream', (client, _headers, _flags, raw: string[]) => {
  const up = app.request(raw, { endStream: client.endAfterHeaders });
  client.on('error', () => {});
  up.on('error', () => {});
  up.on('response', (_h, flags: number, rawResponse: string[]) => {
    client.respond(rawResponse, { endStream: (flags & 1) !== 0 });
    up.on('data', (chunk: Buffer) => client.write(chunk));
    up.on('end', () => client.end());
  });
  client.on('close', () => {
    if (!up.closed) up.close(8);
  });
});
server.listen(port, '127.0.0.1', () => console.log(`listening on ${port}`));
process.on('SIGTERM', () => process.exit(0));
