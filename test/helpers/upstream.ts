/**
 * A real app for the proxy to front: node:http with the few behaviours tests
 * need. `GET /slow?ms=N` answers after N ms; `/headers` echoes the request
 * headers; anything else answers 200 with the method and target.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface TestUpstream {
  readonly server: Server;
  readonly port: number;
  /** Requests received, in order: "METHOD /target". */
  readonly received: string[];
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => boolean;

export async function startUpstream(port = 0, extra?: Handler): Promise<TestUpstream> {
  const received: string[] = [];
  const server = createServer((req, res) => {
    received.push(`${req.method} ${req.url}`);
    if (extra?.(req, res)) return;
    const url = new URL(req.url ?? '/', 'http://upstream');
    let body = '';
    req.setEncoding('utf8').on('data', (text: string) => (body += text));
    req.on('end', () => {
      if (url.pathname === '/slow') {
        const timer = setTimeout(() => reply(res, `slow ${url.searchParams.get('ms')}\n`), Number(url.searchParams.get('ms') ?? 1000));
        res.on('close', () => clearTimeout(timer));
        return;
      }
      if (url.pathname === '/headers') return reply(res, JSON.stringify(req.headers));
      reply(res, `${req.method} ${req.url} ${body.length}\n`);
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = server.address();
  return {
    server,
    port: typeof address === 'object' && address !== null ? address.port : port,
    received,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function reply(res: ServerResponse, body: string): void {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * Serves an event stream on `res` (headers already written): `id: N` and
 * `data: tick N`, one event every 30 ms, each written in two pieces so that
 * some chunks end in the middle of an event.
 */
export function tickEvents(res: ServerResponse): void {
  let id = 0;
  const timer = setInterval(() => {
    id++;
    res.write(`id: ${id}\ndata: tick`);
    res.write(` ${id}\n\n`);
  }, 30);
  res.on('close', () => clearInterval(timer));
}
