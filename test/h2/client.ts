/**
 * A node:http2 client exchange reduced to what tests assert on: status,
 * headers, body, trailers and the stream's close code.
 */
import { connect, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { spawnSync } from 'node:child_process';
import { ensurePackage } from '../../harness/debian.ts';
import { run } from '../../harness/processes.ts';

export interface H2Result {
  readonly status: number | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly trailers: IncomingHttpHeaders | undefined;
  readonly rstCode: number;
  readonly streamId: number | undefined;
}

export function h2session(port: number): ClientHttp2Session {
  const session = connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  return session;
}

export function h2request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: Buffer): Promise<H2Result> {
  return new Promise((resolve) => {
    const stream = session.request({ ':method': body === undefined ? 'GET' : 'POST', ...headers }, { endStream: body === undefined });
    let response: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (response = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', () => {});
    stream.once('close', () => {
      const status = response[':status'] === undefined ? undefined : Number(response[':status']);
      resolve({ status, headers: response, body: Buffer.concat(chunks), trailers, rstCode: stream.rstCode ?? 0, streamId: stream.id });
    });
    if (body !== undefined) stream.end(body);
  });
}

/** Runs nghttp (Debian nghttp2-client) and resolves with its exit code and output. */
export function nghttp(args: string[], timeoutMs = 15_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return run('nghttp', args, { allowFailure: true, timeoutMs });
}

function nghttpInstalled(): boolean {
  return spawnSync('nghttp', ['--version'], { encoding: 'utf8' }).status === 0;
}

/** Installs nghttp (Debian nghttp2-client) when missing; returns why the tests must be skipped, or undefined. */
export function ensureNghttp(): string | undefined {
  return ensurePackage('nghttp2-client', nghttpInstalled);
}
