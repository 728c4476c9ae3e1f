/**
 * What integration tests look at from outside the proxy: its status, and
 * whether a port accepts.
 */
import { connect } from 'node:net';
import type { DrainProxy } from '../../harness/drain-proxy.ts';

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
