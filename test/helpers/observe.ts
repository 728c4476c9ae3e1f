/**
 * What integration tests look at from outside the proxy: its metrics, its
 * status, whether a port accepts.
 */
import { connect } from 'node:net';
import type { DrainProxy } from '../../harness/drain-proxy.ts';

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

export async function proxyStatus(proxy: DrainProxy): Promise<ProxyStatus> {
  return (await (await proxy.admin('/status')).json()) as ProxyStatus;
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
