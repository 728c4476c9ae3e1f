/**
 * /drain from addresses other than loopback, over real sockets. Needs a
 * network namespace (root and iproute2): the proxy and its callers run inside
 * one made for the test, on a veth pair with both ends inside it, so nothing leaves the machine.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDrainProxy, type DrainProxy } from '../../harness/drain-proxy.ts';

const NS = `dp-admin-${process.pid}`;
const POD_IP = '169.254.201.1';
const NODE_IP = '169.254.201.2';
const OTHER_POD = '169.254.201.3';
const ADMIN_PORT = 9901;

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(args[0], args.slice(1), { encoding: 'utf8', timeout: 10_000 });
  return { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

const canNamespace = process.getuid?.() === 0 && run(['ip', 'netns', 'list']).status === 0 && run(['curl', '--version']).status === 0;
let proxy: DrainProxy | undefined;

before(() => {
  if (!canNamespace) return;
  run(['ip', 'netns', 'add', NS]);
  const setup = [
    ['ip', '-n', NS, 'link', 'set', 'lo', 'up'],
    ['ip', '-n', NS, 'link', 'add', 'pod0', 'type', 'veth', 'peer', 'name', 'pod1'],
    ['ip', '-n', NS, 'addr', 'add', `${POD_IP}/24`, 'dev', 'pod0'],
    ['ip', '-n', NS, 'addr', 'add', `${NODE_IP}/24`, 'dev', 'pod0'],
    ['ip', '-n', NS, 'addr', 'add', `${OTHER_POD}/24`, 'dev', 'pod0'],
    ['ip', '-n', NS, 'link', 'set', 'pod0', 'up'],
  ];
  for (const step of setup) assert.equal(run(step).status, 0, step.join(' '));
});

after(async () => {
  await proxy?.stop();
  if (canNamespace) run(['ip', 'netns', 'del', NS]);
});

/** curl inside the namespace, from a chosen source address; returns the HTTP status. */
function curlFrom(source: string, path: string, headers: string[] = []): number {
  const args = ['ip', 'netns', 'exec', NS, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--interface', source, '-X', 'POST'];
  for (const header of headers) args.push('-H', header);
  args.push(`http://${POD_IP}:${ADMIN_PORT}${path}`);
  return Number(run(args).stdout);
}

test('/drain: 403 from another pod, allowed from HOST_IP and with the token; refusals are counted', { skip: !canNamespace && 'needs root and ip netns' }, async () => {
  proxy = await startDrainProxy('http://127.0.0.1:9', {
    host: POD_IP,
    listenPort: 8000,
    adminPort: ADMIN_PORT,
    env: { HOST_IP: NODE_IP, DRAIN_TOKEN: 'let-me-drain', LOG_LEVEL: 'warn' },
    wrap: ['ip', 'netns', 'exec', NS],
    wait: 'none',
  });
  let live = 0;
  for (let i = 0; i < 100 && live !== 200; i++) {
    await sleep(50);
    live = Number(run(['ip', 'netns', 'exec', NS, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${POD_IP}:${ADMIN_PORT}/livez`]).stdout);
  }
  assert.equal(live, 200, 'proxy started in the namespace');

  assert.equal(curlFrom(OTHER_POD, '/drain'), 403);
  assert.equal(curlFrom(OTHER_POD, '/drain', ['X-Drain-Token: wrong']), 403);
  const metrics = run(['ip', 'netns', 'exec', NS, 'curl', '-s', `http://${POD_IP}:${ADMIN_PORT}/metrics`]).stdout;
  assert.match(metrics, /drain_proxy_drain_denied_total 2/);
  assert.match(run(['ip', 'netns', 'exec', NS, 'curl', '-s', `http://${POD_IP}:${ADMIN_PORT}/status`]).stdout, /"phase":"serving"/, 'refused calls did not start a drain');

  assert.equal(curlFrom(OTHER_POD, '/drain', ['X-Drain-Token: let-me-drain']), 202);
  assert.equal(curlFrom(NODE_IP, '/drain'), 202, 'the kubelet, calling from the node, may drain');
  assert.match(run(['ip', 'netns', 'exec', NS, 'curl', '-s', `http://${POD_IP}:${ADMIN_PORT}/readyz`]).stdout, /draining/);
});
