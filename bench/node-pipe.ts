// A raw Node socket pipe, the floor for any Node proxy (`node bench/node-pipe.ts LISTEN_PORT APP_PORT [CERT KEY]`):
// each accepted socket gets its own connection to the app and bytes go through both ways as they come, with
// backpressure, and nothing else: no parsing, no headers added, no timers. The HTTP/1.1, WebSocket and latency
// sections measure it beside nginx and drain-proxy. With a certificate and key it terminates TLS first, with
// drain-proxy's TLS settings and ALPN http/1.1 (the TLS section's floor).
import { readFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { INTERMEDIATE } from '../src/listeners/tls-credentials.ts';

const [listenPort, appPort] = process.argv.slice(2, 4).map(Number);
const [certFile, keyFile] = process.argv.slice(4);

/** `from`'s bytes to `to`, `from` paused while `to` is full. */
function forward(from: Socket, to: Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
}

function pipe(client: Socket): void {
  const upstream = connect({ host: '127.0.0.1', port: appPort, noDelay: true });
  forward(client, upstream);
  forward(upstream, client);
  for (const socket of [client, upstream]) {
    socket.on('error', () => {});
    socket.on('close', () => {
      client.destroy();
      upstream.destroy();
    });
  }
}

const server = certFile === undefined
  ? createServer({ noDelay: true }, pipe)
  : createTlsServer({ ...INTERMEDIATE, cert: readFileSync(certFile), key: readFileSync(keyFile), ALPNProtocols: ['http/1.1'], noDelay: true }, pipe);
server.listen(listenPort, '127.0.0.1', () => console.log(`listening on ${listenPort}`));
process.on('SIGTERM', () => process.exit(0));
