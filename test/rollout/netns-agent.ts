/**
 * Runs inside the test's network namespace (ip netns exec) and does there what
 * the test, in the root namespace, cannot: serve the pods and be the client.
 * One JSON command per stdin line, one JSON reply per stdout line, same `id`:
 *
 *   {"id":1,"op":"serve","hosts":["127.0.1.2"],"port":8000}   HTTP servers answering their own address
 *   {"id":2,"op":"get","url":"http://127.0.1.1:8000/"}        a request on a new connection
 *   {"id":3,"op":"get","url":"...","via":"kept"}              on the named keep-alive connection
 *   {"id":4,"op":"connect","host":"127.0.1.1","port":8000}    a bare TCP connect: "connected" or the error code
 *
 * A reply is {"id":..,"status":..,"body":..,"localPort":..} or {"id":..,"error":"ECONNREFUSED"}.
 */
import http from 'node:http';
import net from 'node:net';
import { createInterface } from 'node:readline';

type Command =
  | { id: number; op: 'serve'; hosts: string[]; port: number }
  | { id: number; op: 'get'; url: string; via?: string }
  | { id: number; op: 'connect'; host: string; port: number };

const REQUEST_TIMEOUT_MS = 3000;
const keepAlive = new Map<string, http.Agent>();

function reply(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

async function serve(hosts: readonly string[], port: number): Promise<void> {
  await Promise.all(hosts.map((host) => new Promise<void>((resolve, reject) => {
    const server = http.createServer({ keepAliveTimeout: 60_000 }, (_req, res) => res.end(host));
    server.once('error', reject);
    server.listen(port, host, resolve);
  })));
}

function get(url: string, via: string | undefined): Promise<Record<string, unknown>> {
  let agent: http.Agent | false = false;
  if (via !== undefined) {
    agent = keepAlive.get(via) ?? new http.Agent({ keepAlive: true, maxSockets: 1 });
    keepAlive.set(via, agent);
  }
  return new Promise((resolve) => {
    const req = http.get(url, { agent, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      const localPort = res.socket.localPort;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, body, localPort }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => resolve({ error: errorCode(err) }));
  });
}

function connect(host: string, port: number): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: REQUEST_TIMEOUT_MS });
    socket.on('connect', () => {
      socket.destroy();
      resolve({ result: 'connected' });
    });
    socket.on('timeout', () => {
      socket.destroy();
      resolve({ error: 'ETIMEDOUT' });
    });
    socket.on('error', (err) => resolve({ error: errorCode(err) }));
  });
}

async function run(command: Command): Promise<Record<string, unknown>> {
  switch (command.op) {
    case 'serve':
      await serve(command.hosts, command.port);
      return { result: 'serving' };
    case 'get':
      return get(command.url, command.via);
    case 'connect':
      return connect(command.host, command.port);
  }
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line) as Command;
  run(command).then(
    (result) => reply({ id: command.id, ...result }),
    (err: unknown) => reply({ id: command.id, error: errorCode(err) }),
  );
});
// The test closing stdin (or dying) ends the agent.
process.stdin.on('end', () => process.exit(0));
