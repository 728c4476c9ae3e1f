/**
 * rollout/service-iptables.ts, the Service as kube-proxy's iptables mode, in a
 * network namespace this test creates: pods and client run there through
 * netns-agent.ts, the Service process programs that namespace's iptables, and
 * the namespace is deleted afterwards. Also rollout/netns.ts's re-exec.
 * Needs root, `ip netns` and iptables; skipped otherwise.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { deleteNetns, netnsAvailable } from '../../rollout/netns.ts';

const SERVICE = fileURLToPath(new URL('../../rollout/service-iptables.ts', import.meta.url));
const AGENT = fileURLToPath(new URL('./netns-agent.ts', import.meta.url));
const REEXEC = fileURLToPath(new URL('./netns-reexec.ts', import.meta.url));

const NS = `dp-test-${process.pid}`;
const SERVICE_HOST = '127.0.1.1';
const CONTROL = `http://${SERVICE_HOST}:9000`;
const PODS = ['127.0.1.2', '127.0.1.3', '127.0.1.4'];
const STEP_TIMEOUT_MS = 5000;

const hasIptables = spawnSync('iptables-restore', ['--version']).status === 0 && spawnSync('iptables-save', ['--version']).status === 0;
const skip = !netnsAvailable() ? 'needs root and ip netns' : !hasIptables ? 'needs iptables (apt-get install iptables; rollout/netns.ts ensureIptables())' : false;

function inNs(args: readonly string[]): string {
  const result = spawnSync('ip', ['netns', 'exec', NS, ...args], { encoding: 'utf8', timeout: STEP_TIMEOUT_MS });
  assert.equal(result.status, 0, `${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return once(child, 'exit').then(([code]) => code as number | null);
}

/** Resolves with `promise`, or rejects after `ms` saying what was awaited. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    })]);
  } finally {
    clearTimeout(timer);
  }
}

interface Reply {
  readonly status?: number;
  readonly body?: string;
  readonly localPort?: number;
  readonly result?: string;
  readonly error?: string;
}

/** netns-agent.ts in the namespace: one JSON command a line, answered by id. */
class Agent {
  readonly #process: ChildProcess;
  readonly #waiting = new Map<number, (reply: Reply) => void>();
  #nextId = 1;

  constructor() {
    this.#process = spawn('ip', ['netns', 'exec', NS, process.execPath, AGENT], { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: this.#process.stdout! }).on('line', (line) => {
      const { id, ...reply } = JSON.parse(line) as Reply & { id: number };
      this.#waiting.get(id)?.(reply);
      this.#waiting.delete(id);
    });
  }

  send(command: Record<string, unknown>): Promise<Reply> {
    const id = this.#nextId++;
    const answered = new Promise<Reply>((resolve) => this.#waiting.set(id, resolve));
    this.#process.stdin!.write(`${JSON.stringify({ id, ...command })}\n`);
    return within(STEP_TIMEOUT_MS, `agent ${JSON.stringify(command)}`, answered);
  }

  get(url: string, via?: string): Promise<Reply> {
    return this.send({ op: 'get', url, via });
  }

  async json<T>(url: string): Promise<T> {
    const reply = await this.get(url);
    assert.equal(reply.status, 200, `${url}: ${JSON.stringify(reply)}`);
    return JSON.parse(reply.body!) as T;
  }

  async stop(): Promise<void> {
    this.#process.stdin!.end();
    await within(STEP_TIMEOUT_MS, 'agent exit', exited(this.#process));
  }
}

interface Stats {
  connections: number;
  noEndpoint: number;
  backendConnectErrors: Record<string, number>;
  backendResets: number;
  newConnectionsPerSecond: Record<string, Record<string, number>>;
}

/** New connections per endpoint since the start, summed over the seconds. */
function perEndpoint(stats: Stats): Map<string, number> {
  return new Map(Object.entries(stats.newConnectionsPerSecond).map(([target, seconds]) => [
    target.split(':')[0],
    Object.values(seconds).reduce((sum, n) => sum + n, 0),
  ]));
}

let agent: Agent | undefined;
let service: ChildProcess | undefined;

before(async () => {
  if (skip !== false) return;
  deleteNetns(NS);
  spawnSync('ip', ['netns', 'add', NS]);
  inNs(['ip', 'link', 'set', 'lo', 'up']);
  agent = new Agent();
  assert.deepEqual(await agent.send({ op: 'serve', hosts: PODS, port: 8000 }), { result: 'serving' });
  service = spawn('ip', ['netns', 'exec', NS, process.execPath, SERVICE], {
    env: { ...process.env, LISTEN_HOST: SERVICE_HOST, LISTEN_PORTS: '8000', CONTROL_PORT: '9000' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: service.stdout! });
  await within(STEP_TIMEOUT_MS, 'service-iptables listening', new Promise<void>((resolve) => {
    lines.on('line', (line) => {
      if (line.includes('"service listening"')) resolve();
    });
  }));
});

after(async () => {
  if (skip !== false) return;
  if (service !== undefined && service.exitCode === null && service.signalCode === null) {
    service.kill('SIGKILL');
    await exited(service);
  }
  await agent?.stop().catch(() => agent = undefined);
  // Kills anything left in the namespace (the agent if it hung), then deletes it.
  deleteNetns(NS);
});

test('refuses to start in the root network namespace, before touching iptables', { skip, timeout: 10_000 }, async () => {
  const before = spawnSync('iptables-save', { encoding: 'utf8' }).stdout;
  const child = spawn(process.execPath, [SERVICE], {
    env: { ...process.env, LISTEN_HOST: '127.0.1.1', LISTEN_PORTS: '8000', CONTROL_PORT: '9000' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
  assert.equal(await within(STEP_TIMEOUT_MS, 'service-iptables exit', exited(child)), 1);
  assert.match(stderr, /refusing to program iptables in the root network namespace/);
  const afterRun = spawnSync('iptables-save', { encoding: 'utf8' }).stdout;
  assert.doesNotMatch(afterRun, /DP-/, 'no chain of its own in the root namespace');
  assert.equal(afterRun.replace(/^#.*\n/gm, ''), before.replace(/^#.*\n/gm, ''), 'the root namespace rules are unchanged');
});

test('new connections spread over every endpoint; /stats counts each one per endpoint', { skip, timeout: 15_000 }, async () => {
  const set = await agent!.json<{ endpoints: Array<{ host: string; targetPorts: number[] }> }>(`${CONTROL}/endpoints?set=${PODS.map((pod) => `${pod}:8000`).join(',')}`);
  assert.deepEqual(set.endpoints, PODS.map((host) => ({ host, targetPorts: [8000] })));
  const seen = new Map<string, number>();
  for (let i = 0; i < 30; i++) {
    const reply = await agent!.get(`http://${SERVICE_HOST}:8000/`);
    assert.equal(reply.status, 200, JSON.stringify(reply));
    seen.set(reply.body!, (seen.get(reply.body!) ?? 0) + 1);
  }
  // Each of 3 endpoints is missed by 30 random picks with probability (2/3)^30, about 5e-6.
  assert.deepEqual([...seen.keys()].sort(), PODS, `every endpoint answered: ${JSON.stringify([...seen])}`);
  const stats = await agent!.json<Stats>(`${CONTROL}/stats`);
  assert.deepEqual(perEndpoint(stats), seen, 'the DNAT counters saw exactly the connections the pods answered');
  assert.equal(stats.connections, 30);
  assert.equal(stats.noEndpoint, 0);
  assert.deepEqual(stats.backendConnectErrors, {});
  assert.equal(stats.backendResets, 0);
  const rules = inNs(['iptables-save', '-t', 'nat']);
  assert.match(rules, /-A DP-SERVICES -d 127\.0\.1\.1\/32 -p tcp -m tcp --dport 8000 -j DP-SVC-8000/);
  assert.match(rules, /-A DP-SVC-8000 -m statistic --mode random --probability 0\.333333333\d* -j DP-SEP-/);
  assert.match(rules, /-A DP-SVC-8000 -m statistic --mode random --probability 0\.50* -j DP-SEP-/);
  for (const pod of PODS) assert.match(rules, new RegExp(`-j DNAT --to-destination ${pod.replaceAll('.', '\\.')}:8000`));
});

test('a removed endpoint gets no new connections, while a keep-alive connection already on it keeps working (conntrack)', { skip, timeout: 15_000 }, async () => {
  const first = await agent!.get(`http://${SERVICE_HOST}:8000/`, 'kept');
  assert.equal(first.status, 200, JSON.stringify(first));
  const removed = first.body!;
  const remaining = PODS.filter((pod) => pod !== removed);
  await agent!.json(`${CONTROL}/endpoints?set=${remaining.map((pod) => `${pod}:8000`).join(',')}`);
  const before = perEndpoint(await agent!.json<Stats>(`${CONTROL}/stats`));
  const answered = new Set<string>();
  for (let i = 0; i < 20; i++) answered.add((await agent!.get(`http://${SERVICE_HOST}:8000/`)).body!);
  assert.deepEqual([...answered].sort(), remaining, `only the remaining endpoints answer new connections, not ${removed}`);
  const again = await agent!.get(`http://${SERVICE_HOST}:8000/`, 'kept');
  assert.deepEqual(again, first, 'same pod, same client socket: the open connection stayed on the removed endpoint');
  const afterRemoval = perEndpoint(await agent!.json<Stats>(`${CONTROL}/stats`));
  assert.equal(afterRemoval.get(removed), before.get(removed), 'no new connection counted for the removed endpoint');
  assert.doesNotMatch(inNs(['iptables-save', '-t', 'nat']), new RegExp(`--to-destination ${removed.replaceAll('.', '\\.')}:`), 'its DNAT chain is gone');
});

test('no endpoints: a new connection is refused (tcp-reset) and counted as noEndpoint', { skip, timeout: 15_000 }, async () => {
  assert.deepEqual(await agent!.json(`${CONTROL}/endpoints?set=`), { endpoints: [] });
  const before = await agent!.json<Stats>(`${CONTROL}/stats`);
  assert.deepEqual(await agent!.send({ op: 'connect', host: SERVICE_HOST, port: 8000 }), { error: 'ECONNREFUSED' });
  assert.deepEqual(await agent!.get(`http://${SERVICE_HOST}:8000/`), { error: 'ECONNREFUSED' });
  const stats = await agent!.json<Stats>(`${CONTROL}/stats`);
  assert.equal(stats.noEndpoint, before.noEndpoint + 2);
  assert.equal(stats.connections, before.connections + 2);
  assert.match(inNs(['iptables-save', '-t', 'filter']), /-A DP-SERVICES -d 127\.0\.1\.1\/32 -p tcp -m tcp --dport 8000 -j DP-NOEP-8000/);
  // Endpoints again: connections succeed.
  await agent!.json(`${CONTROL}/endpoints?set=${PODS[0]}:8000`);
  assert.deepEqual((await agent!.get(`http://${SERVICE_HOST}:8000/`)).body, PODS[0]);
  assert.doesNotMatch(inNs(['iptables-save', '-t', 'filter']), /-j DP-NOEP-8000/, 'the REJECT jump is gone once there are endpoints');
});

test('a malformed endpoint set gets 400 and changes nothing', { skip, timeout: 15_000 }, async () => {
  const current = await agent!.json(`${CONTROL}/endpoints`);
  const rules = inNs(['iptables-save', '-t', 'nat']).replace(/^#.*\n/gm, '');
  for (const set of ['x', '127.0.1.2', '127.0.1.2:8000:8001', '127.0.1.2:0', '127.0.1.2:abc', 'host.example:8000', '127.0.1.2:8000,127.0.1.2:8000']) {
    const reply = await agent!.get(`${CONTROL}/endpoints?set=${encodeURIComponent(set)}`);
    assert.equal(reply.status, 400, `set=${set}: ${JSON.stringify(reply)}`);
  }
  assert.deepEqual(await agent!.json(`${CONTROL}/endpoints`), current);
  assert.equal(inNs(['iptables-save', '-t', 'nat']).replace(/^#.*\n/gm, ''), rules);
});

test('SIGTERM: the service exits and its rules are gone', { skip, timeout: 15_000 }, async () => {
  assert.match(inNs(['iptables-save']), /DP-SERVICES/);
  service!.kill('SIGTERM');
  assert.equal(await within(STEP_TIMEOUT_MS, 'service-iptables exit', exited(service!)), 0);
  const rules = inNs(['iptables-save']);
  assert.doesNotMatch(rules, /DP-/, rules);
  assert.deepEqual(await agent!.send({ op: 'connect', host: SERVICE_HOST, port: 8000 }), { error: 'ECONNREFUSED' }, 'nothing listens on the Service address any more');
});

test('netns.ts: enterFreshNetns() re-executes the script in a fresh namespace where 127.0.1.N works, propagates its exit code and deletes the namespace', { skip, timeout: 15_000 }, async () => {
  const child = spawn(process.execPath, [REEXEC, '7'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout!.on('data', (chunk: Buffer) => { stdout += chunk.toString('utf8'); });
  assert.equal(await within(10_000, 'netns-reexec exit', exited(child)), 7);
  const report = JSON.parse(stdout.trim().split('\n').at(-1)!) as { marker: string; name: string; inNetworkNamespace: boolean; body: string };
  assert.match(report.marker, /^drain-proxy-\d+-[0-9a-f]{6}$/);
  assert.equal(report.name, report.marker, 'the child runs in the namespace named in its marker');
  assert.equal(report.inNetworkNamespace, true);
  assert.equal(report.body, '127.0.1.7');
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  assert.doesNotMatch(list, new RegExp(report.marker), 'the namespace is deleted after the child exits');
});
