// The byte-counting relay of the abuse benchmark (bench/abuse.ts), in front of the app, as its own process
// (a proxy under abuse may open thousands of connections to the app): `node bench/abuse-relay.ts LISTEN APP CONTROL`.
// Everything a proxy sends the app passes through it and is counted (nginx reads with recv(2), which
// /proc/PID/io does not count); both directions keep their backpressure. A connection to CONTROL gets the count
// so far, as a decimal number, and is closed.
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';

const [listenPort, appPort, controlPort] = process.argv.slice(2).map(Number);
if (![listenPort, appPort, controlPort].every((port) => Number.isInteger(port) && port > 0 && port < 65536)) {
  console.error('usage: node bench/abuse-relay.ts LISTEN_PORT APP_PORT CONTROL_PORT');
  process.exit(2);
}

let received = 0;
const relay = createServer({ allowHalfOpen: true, noDelay: true }, (from: Socket) => {
  const to = connect({ port: appPort, host: '127.0.0.1', noDelay: true, allowHalfOpen: true });
  from.on('data', (chunk: Buffer) => (received += chunk.length));
  from.pipe(to);
  to.pipe(from);
  const destroy = (): void => {
    from.destroy();
    to.destroy();
  };
  for (const socket of [from, to]) {
    socket.on('error', destroy);
    socket.on('close', destroy);
  }
});
relay.listen({ port: listenPort, host: '127.0.0.1', backlog: 4096 });
const control = createServer((socket: Socket) => socket.end(String(received)));
control.listen(controlPort, '127.0.0.1');
await Promise.all([once(relay, 'listening'), once(control, 'listening')]);
console.log('listening');
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => process.exit(0));
