import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Child } from '../harness/processes.ts';

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

export function httpGet(url: string, timeoutMs = 2000): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** Polls until `url` answers 200, failing early if the process serving it has exited. */
export async function waitUntilServing(url: string, server: Child, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastProblem = 'no answer yet';
  while (Date.now() < deadline) {
    const { exitCode, signalCode } = server.process;
    if (exitCode !== null || signalCode !== null) {
      throw new Error(`process serving ${url} exited (${exitCode ?? signalCode}):\n${server.output()}`);
    }
    try {
      const answer = await httpGet(url, 1000);
      if (answer.status === 200) return;
      lastProblem = `status ${answer.status}`;
    } catch (error) {
      lastProblem = (error as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`${url} not serving after ${timeoutMs} ms (${lastProblem}):\n${server.output()}`);
}
