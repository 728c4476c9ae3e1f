// A node:http2 server answering every request itself with the app's body (`node bench/node-h2-server.ts PORT
// [trailers]`), cleartext with prior knowledge: what node:http2's server side costs per request before any
// proxying. The HTTP/2 section measures it beside the proxies: a node:http2 proxy pays this on its client side,
// and a client stream's cost on its app side (bench/h2-floor.ts). With `trailers`, each response waits for
// trailers that never come, as a proxy's must when it cannot know whether the app will send some.
import { createServer } from 'node:http2';
import { APP_BODY } from './session.ts';

const port = Number(process.argv[2]);
const waitForTrailers = process.argv[3] === 'trailers';
const length = String(Buffer.byteLength(APP_BODY));
const server = createServer();
server.on('stream', (stream) => {
  stream.on('error', () => {});
  stream.respond({ ':status': 200, 'content-type': 'text/plain', 'content-length': length }, { waitForTrailers });
  stream.end(APP_BODY);
});
server.listen(port, '127.0.0.1', () => console.log(`listening on ${port}`));
process.on('SIGTERM', () => process.exit(0));
