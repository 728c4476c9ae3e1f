/**
 * UPSTREAM_PROTOCOL=http1: each client HTTP/2 stream becomes an HTTP/1.1
 * request to the app on a keep-alive pool (node:http; this is not the
 * HTTP/1.1 hot path). Pseudo-headers become the request line and Host;
 * hop-by-hop fields are dropped both ways (HTTP/2 forbids them, and node:http2
 * throws on them: nodejs #23748); HTTP/1.1 trailers become HTTP/2 trailers.
 * A client reset aborts the upstream request; a response cut by the app
 * resets the client stream.
 *
 * Per stream, only what the exchange needs: the connect timeout is a timer
 * armed for a new connection alone (a `timeout` request option would set and
 * clear a socket timer on every request of a kept-alive connection), and
 * trailers are waited for only on a chunked response, the only HTTP/1.1 body
 * that can carry them (otherwise END_STREAM goes with the last DATA frame).
 */
import { Agent, request, type IncomingMessage } from 'node:http';
import { constants, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { fromHttp1Response, http1RequestHeaders, type Forwarding } from './headers.ts';
import { failStream, resetStream, type ForwarderContext, type StreamForwarder } from './forwarder.ts';
import { pump } from './pump.ts';

export class Http1Forwarder implements StreamForwarder {
  readonly #ctx: ForwarderContext;
  readonly #agent = new Agent({ keepAlive: true, scheduling: 'lifo' });

  constructor(ctx: ForwarderContext) {
    this.#ctx = ctx;
  }

  forward(client: ServerHttp2Stream, headers: IncomingHttpHeaders, _rawHeaders: readonly string[], forwarding: Forwarding | null): void {
    const ctx = this.#ctx;
    const method = String(headers[':method']);
    if (method === 'CONNECT') {
      client.respond({ ':status': 405, 'content-length': 0 }, { endStream: true });
      return;
    }
    const { host, port } = ctx.upstream;
    const req = request({
      host,
      port,
      method,
      path: String(headers[':path'] ?? '/'),
      headers: http1RequestHeaders(headers, forwarding),
      agent: this.#agent,
    });
    let response: IncomingMessage | null = null;
    let connected = false;
    req.once('socket', (socket: Socket) => {
      if (!socket.connecting) {
        connected = true;
        return;
      }
      // A new connection: given up on after UPSTREAM_CONNECT_TIMEOUT.
      const timer = setTimeout(() => req.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), ctx.connectTimeoutMs);
      const settle = (): void => clearTimeout(timer);
      socket.once('connect', () => {
        connected = true;
        settle();
      });
      socket.once('close', settle);
    });
    /** The client stream closed first and the request was aborted for it: its error is ours, not the app's. */
    let abandoned = false;
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (response !== null || abandoned) return; // the response's close handler resets the client
      const kind = err.code === 'ETIMEDOUT' ? 'connect_timeout' : connected ? 'reset' : 'connect_refused';
      failStream(client, kind === 'connect_timeout' ? 504 : 502, ctx, kind, err);
    });
    req.on('response', (res: IncomingMessage) => {
      response = res;
      if (client.destroyed || client.closed) {
        res.destroy();
        return;
      }
      const out: OutgoingHttpHeaders = fromHttp1Response(res.headers);
      out[':status'] = res.statusCode ?? 502;
      // Only a chunked body can end in trailers.
      const chunked = res.headers['transfer-encoding'] !== undefined;
      try {
        client.respond(out, { waitForTrailers: chunked });
      } catch (err) {
        ctx.logger.warn({ err: (err as Error).message }, 'upstream response could not be forwarded over h2');
        res.destroy();
        resetStream(client, constants.NGHTTP2_INTERNAL_ERROR);
        return;
      }
      if (client.writableEnded) {
        res.resume(); // HEAD, 204, 304: no body goes to the client
        return;
      }
      if (chunked) {
        client.on('wantTrailers', () => {
          try {
            client.sendTrailers(fromHttp1Response(res.trailers));
          } catch {
            // reset meanwhile
          }
        });
      }
      pump(res, client);
      res.on('close', () => {
        if (!res.complete && !client.closed && !client.destroyed) resetStream(client, constants.NGHTTP2_INTERNAL_ERROR);
      });
    });
    client.once('close', () => {
      if (response !== null && response.complete) return;
      abandoned = true;
      req.destroy();
    });
    if (client.endAfterHeaders) req.end();
    else pump(client, req);
  }

  close(): void {
    this.#agent.destroy();
  }
}
