/** HTTP GET on a fresh connection (HTTP/1.1 or HTTP/2), and polling until something holds. */
import { get, type IncomingHttpHeaders } from 'node:http';
import { connect as connectH2 } from 'node:http2';
import { get as httpsGet } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Child } from './processes.ts';

export interface HttpAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/**
 * One GET on a fresh connection (no agent); fails when the connection is silent for `timeoutMs`. An https URL is
 * asked over TLS with ALPN http/1.1, its certificate checked against `ca`.
 */
export function httpGet(url: string, timeoutMs = 2000, ca?: Buffer): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const tls = url.startsWith('https:');
    const options = tls ? { agent: false, timeout: timeoutMs, ca, ALPNProtocols: ['http/1.1'] } : { agent: false, timeout: timeoutMs };
    const req = (tls ? httpsGet : get)(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** One GET on a fresh HTTP/2 session: h2c with prior knowledge, or over TLS (ALPN h2) trusting `ca` for an https URL. */
export function h2Get(url: string, timeoutMs = 5000, ca?: Buffer): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const { origin, pathname } = new URL(url);
    const session = connectH2(origin, ca === undefined ? {} : { ca });
    const fail = (err: Error): void => {
      clearTimeout(timer);
      session.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error(`GET ${url} over HTTP/2: no answer within ${timeoutMs} ms`)), timeoutMs);
    session.on('error', fail);
    const stream = session.request({ ':path': pathname });
    let headers: IncomingHttpHeaders = {};
    let body = '';
    stream.setEncoding('utf8');
    stream.on('response', (received) => (headers = received));
    stream.on('data', (chunk: string) => (body += chunk));
    stream.on('error', fail);
    stream.on('end', () => {
      clearTimeout(timer);
      session.close();
      resolve({ status: Number(headers[':status']), headers, body });
    });
    stream.end();
  });
}

/** Polls `check` every `intervalMs` until it returns true or `timeoutMs` passes; returns its last answer. */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 5000, intervalMs = 20): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await check()) return true;
    await sleep(intervalMs);
  }
  return check();
}

/** Polls `url` until it answers 200; fails after `timeoutMs`, or at once when `server`, the process behind it, has exited. */
export async function waitFor200(url: string, server: Child | undefined, timeoutMs = 15_000): Promise<void> {
  let last = 'no answer yet';
  const answered = await eventually(async () => {
    if (server !== undefined && !server.running) throw new Error(`${url} never answered 200: ${server.describe()}`);
    try {
      const answer = await httpGet(url, 1000);
      last = `status ${answer.status}`;
      return answer.status === 200;
    } catch (err) {
      last = (err as Error).message;
      return false;
    }
  }, timeoutMs, 50);
  if (!answered) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (last: ${last})${server === undefined ? '' : `:\n${server.output()}`}`);
}
