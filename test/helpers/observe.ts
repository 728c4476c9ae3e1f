/**
 * What integration tests look at from outside the proxy: its metrics, its
 * status, whether a port accepts, and polling until something holds.
 */
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ProxyProcess } from './proxy.ts';

export async function metrics(proxy: ProxyProcess): Promise<string> {
  return (await proxy.admin('/metrics')).text();
}

/** The value of one exposition line, e.g. `drain_proxy_ready` or `x_total{label="a"}`; undefined when absent. */
export function metricValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

export interface ProxyStatus {
  readonly phase: string;
  readonly connections: Record<string, number>;
  readonly inFlight: Record<string, number>;
}

export async function proxyStatus(proxy: ProxyProcess): Promise<ProxyStatus> {
  return (await (await proxy.admin('/status')).json()) as ProxyStatus;
}

/** Polls `check` every 20 ms until it returns true or `timeoutMs` passes; returns its last answer. */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await check()) return true;
    await sleep(20);
  }
  return check();
}

/** 'connected', or the error code a connect gets (ECONNREFUSED once a listener has closed). */
export function connectOutcome(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}
