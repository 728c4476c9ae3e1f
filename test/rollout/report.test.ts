/**
 * The rollout's reconnect figures from client records: a client's first
 * connection is no reconnect, nor one before the deletion; each kind is
 * counted on its own and together; a reconnect served by the pod being
 * deleted counts as landed back; the busiest second against the steady rate.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { WebSocketSession } from '../../demo/support/streams.ts';
import type { ChannelConnection } from '../../demo/support/grpc-clients.ts';
import { summaryOf, type SpreadResult } from '../../rollout/report.ts';

function webSocket(client: number, startedAt: number, servedBy: string): WebSocketSession {
  return { client, pod: 'service', startedAt, openedAt: startedAt, endedAt: startedAt + 1, end: 'server', code: 1012, reason: 'draining', error: undefined, ticks: 1, echoes: 0, servedBy };
}

function connection(client: number, startedAt: number, pod: string): ChannelConnection {
  return { client, startedAt, pod };
}

test('reconnects per kind and together: first connections and those before the deletion left out, those back on the deleted pod counted, peak against steady', () => {
  const deletedAt = 10_000;
  // Ten WebSocket clients reconnecting 500 ms apart over the 5 s window, one of them to the deleted pod.
  const webSockets = Array.from({ length: 10 }, (_, client) => [
    webSocket(client, 1000 + client, 'pod-1'),
    webSocket(client, deletedAt + 3000 + client * 500, client === 4 ? 'pod-1' : 'pod-2'),
  ]).flat();
  // Five gRPC channels, all back within 100 ms (a storm), and one that reconnected before the deletion.
  const grpcConnections = [
    ...Array.from({ length: 5 }, (_, client) => [connection(client, 2000, 'pod-1'), connection(client, deletedAt + client * 20, 'pod-3')]).flat(),
    connection(5, 2000, 'pod-1'),
    connection(5, 9000, 'pod-2'),
  ];
  // The raw h2c clients share ids with the channels: they are other clients all the same.
  const h2Connections = [connection(0, 2500, 'pod-1'), connection(0, deletedAt + 4000, 'pod-1')];
  const result: SpreadResult = {
    spec: { id: 's1', title: 'spread', proxy: 'native' },
    webSockets,
    grpcConnections,
    grpcCalls: 100,
    grpcFailures: 0,
    h2Connections,
    h2Requests: 50,
    h2Failures: 1,
    h2RefusedAndRetried: 0,
    deletedAt,
    deletedPod: 'pod-1',
    windowMs: 5000,
    clients: { webSockets: 10, grpcChannels: 6, h2Clients: 1 },
    replicas: 3,
    terminations: [],
    checked: true,
  };
  const { spreads } = summaryOf([], [result]) as { spreads: Array<{ kind: string; reconnects: number; landedBack: number; failed: number; peak: number; ratio: number }> };
  const byKind = new Map(spreads.map((row) => [row.kind, row]));
  assert.deepEqual([...byKind.keys()], ['WebSocket', 'HTTP/2 (gRPC channels + h2c)', 'all together']);
  assert.deepEqual(byKind.get('WebSocket'), { ...byKind.get('WebSocket'), reconnects: 10, landedBack: 1, failed: 0, peak: 2, ratio: 1 });
  const h2 = byKind.get('HTTP/2 (gRPC channels + h2c)')!;
  assert.deepEqual({ reconnects: h2.reconnects, landedBack: h2.landedBack, failed: h2.failed, peak: h2.peak }, { reconnects: 6, landedBack: 1, failed: 1, peak: 5 });
  assert.ok(Math.abs(h2.ratio - 5 / (6 / 5)) < 1e-9, `storm ratio ${h2.ratio}`);
  const all = byKind.get('all together')!;
  assert.deepEqual({ reconnects: all.reconnects, landedBack: all.landedBack, failed: all.failed }, { reconnects: 16, landedBack: 2, failed: 1 });
});

test('a setup with one kind of client has no "all together" row', () => {
  const result: SpreadResult = {
    spec: { id: 's4', title: 't0 GOAWAY', proxy: 'goaway-t0' },
    webSockets: [],
    grpcConnections: [connection(0, 1000, 'pod-1'), connection(0, 5100, 'pod-1')],
    grpcCalls: 10,
    grpcFailures: 0,
    h2Connections: [],
    h2Requests: 0,
    h2Failures: 0,
    h2RefusedAndRetried: 0,
    deletedAt: 5000,
    deletedPod: 'pod-1',
    windowMs: 5000,
    clients: { webSockets: 0, grpcChannels: 1, h2Clients: 0 },
    replicas: 3,
    terminations: [],
    checked: false,
  };
  const { spreads } = summaryOf([], [result]) as { spreads: Array<{ kind: string; landedBack: number }> };
  assert.deepEqual(spreads.map((row) => [row.kind, row.landedBack]), [['HTTP/2 (gRPC channels + h2c)', 1]]);
});
