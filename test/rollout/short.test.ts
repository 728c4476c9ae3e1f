/**
 * The short variant of `npm run rollout`: one rollout of the two
 * drain-proxy scenarios (classic and native sidecar) under HTTP keep-alive,
 * slow requests, WebSocket, server-sent event and gRPC load through the
 * emulated Service. Fails on any loss: a failed request or gRPC call, a 1006,
 * a cut event stream, a SIGKILL or a drain-proxy exit other than 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const RUN = fileURLToPath(new URL('../../rollout/run.ts', import.meta.url));
/** The run takes about 40 s on the development machine; the margin is for a loaded CI runner. */
const RUN_TIMEOUT_MS = 85_000;

interface ScenarioSummary {
  id: string;
  lost: number;
  requests: number;
  retried: number;
  grpcCalls: number;
  grpcFailed: number;
  webSockets: number;
  webSocketServerCloses: string;
  eventStreams: number;
  podsReplaced: number;
  sigkills: number;
  proxyExitCodes: (number | null)[];
}

test('one rollout of drain-proxy as classic and native sidecar loses nothing under mixed load', { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rollout-short-'));
  const summaryFile = join(dir, 'summary.json');
  try {
    const args = [RUN, '--rollouts', '1', '--scenarios', 'd,e', '--lag', '500', '--min-ready', '1500', '--no-spread', '--no-write', '--summary', summaryFile];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGINT'), RUN_TIMEOUT_MS);
    const code = await new Promise<number | null>((resolve) => child.on('exit', (exitCode) => resolve(exitCode)));
    clearTimeout(timer);
    assert.equal(code, 0, `rollout/run.ts exited ${code}:\n${output.slice(-4000)}`);
    const summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as { scenarios: ScenarioSummary[] };
    assert.deepEqual(summary.scenarios.map((s) => s.id), ['d', 'e']);
    for (const scenario of summary.scenarios) {
      const context = `${scenario.id}: ${JSON.stringify(scenario)}`;
      assert.equal(scenario.lost, 0, context);
      assert.equal(scenario.grpcFailed, 0, context);
      assert.equal(scenario.sigkills, 0, context);
      assert.equal(scenario.podsReplaced, 3, context);
      assert.deepEqual(scenario.proxyExitCodes, [0, 0, 0], context);
      // The load really ran through the replaced pods: requests, gRPC calls, streams, and WebSockets told to go with 1012.
      assert.ok(scenario.requests > 100 && scenario.grpcCalls > 50, context);
      assert.ok(scenario.webSockets >= 6 && scenario.eventStreams >= 3, context);
      assert.match(scenario.webSocketServerCloses, /1012: [1-9]/, context);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
