// A raw Node socket pipe, the floor for any Node proxy (`node bench/node-pipe.ts LISTEN_PORT APP_PORT`): each
// accepted socket gets its own connection to the app and bytes go through both ways as they come, with
// backpressure, and nothing else: no parsing, no headers added, no timers. The HTTP/1.1 and latency sections
// measure it beside nginx and drain-proxy.
import { connect, createServer, type Socket } from 'node:net';

const [listenPort, appPort] = process.argv.slice(2).map(Number);

/** `from`'s bytes to `to`, `from` paused while `to` is full. */
function forward(from: Socket, to: Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
}

const server = createServer({ noDelay: true }, (client) => {
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
});
server.listen(listenPort, '127.0.0.1', () => console.log(`listening on ${listenPort}`));
process.on('SIGTERM', () => process.exit(0));
