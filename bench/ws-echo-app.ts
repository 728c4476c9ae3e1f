// The WebSocket app of the bench and of bench/idle-memory.ts, run as its own process (so its CPU is measured apart
// from the load generator's): `node bench/ws-echo-app.ts PORT`. Every message is sent back as it came, text or
// binary; a plain GET answers 200 "ok", and the connection it came on is never closed for being idle (the idle
// keep-alive connections of idle-memory.ts are the proxy's worst case).
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error('usage: node bench/ws-echo-app.ts PORT');
  process.exit(2);
}

const server = createServer((_request, response) => {
  response.writeHead(200, { 'content-type': 'text/plain', 'content-length': '3' });
  response.end('ok\n');
});
server.keepAliveTimeout = 0;
server.requestTimeout = 0;
// No compression (the load generator does not offer it), no set of all clients kept.
const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: false });
wss.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  // A client that vanishes must not take the app down.
  socket.on('error', () => socket.terminate());
});
// The idle-connection phase opens thousands at once through the proxies.
server.listen({ host: '127.0.0.1', port, backlog: 4096 });
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => process.exit(0));
