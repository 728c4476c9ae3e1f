/**
 * The emulated Service in kube-proxy's iptables mode: a drop-in replacement
 * for service-lb.ts (same environment, same control API) that proxies nothing
 * itself but programs NAT rules, so the kernel picks an endpoint for each new
 * connection and conntrack keeps the connection there for its whole life,
 * whatever later happens to the endpoint list.
 *
 * Environment and control API: service-control.ts.
 *
 * The chains, named like kube-proxy's (KUBE-SERVICES, KUBE-SVC-*, KUBE-SEP-*);
 * clients are local processes, so the hooks are on OUTPUT:
 *
 *   nat OUTPUT ──▶ DP-SERVICES ──(-d LISTEN_HOST --dport p)──▶ DP-SVC-p
 *                  DP-SVC-p: statistic random 1/n ──▶ DP-SEP-<hash> ──▶ DNAT ip:targetPort
 *                            statistic random 1/(n-1) ──▶ ...
 *                            (last, unconditional) ──▶ DP-SEP-<hash>
 *   filter OUTPUT (ctstate NEW) ──▶ DP-SERVICES ──(no endpoints: -d LISTEN_HOST --dport p)──▶ DP-NOEP-p ──▶ REJECT tcp-reset
 *
 * Each endpoint change is one `iptables-restore --noflush` transaction that
 * rewrites the DP-SVC-* chains and the filter DP-SERVICES chain, creates the
 * DP-SEP-* chains of new endpoints and deletes those of removed ones, so there
 * is never a moment without rules. DP-SEP-* chains of endpoints that stay, and
 * the DP-NOEP-* chains, are never rewritten, which keeps their counters.
 *
 * With no endpoints a new connection gets a TCP reset, as kube-proxy's REJECT
 * for a Service without endpoints (it uses icmp-port-unreachable; on loopback
 * tcp-reset shows the client the same ECONNREFUSED without ICMP handling).
 *
 * /stats, same shape as service-lb.ts, read from rule counters once a second
 * and on every /stats request: the nat table sees only the first packet of a
 * connection, so a DNAT rule's packet count is its endpoint's new connections,
 * and the REJECT rule's count is `noEndpoint`. `connections` is their sum.
 * `backendConnectErrors` stays {} and `backendResets` 0: nothing here sits
 * between client and pod, the client sees a refusing or resetting pod itself.
 *
 * It refuses to start in the root network namespace (see netns.ts), so it can
 * never touch the host's firewall, and removes its rules when it exits.
 * Every endpoint change is logged as one JSON line on stdout.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { inNetworkNamespace } from './netns.ts';
import { controlPort, countNewConnections, host, ports, startControl, startedAt, stats, type Endpoint } from './service-control.ts';

/** Every chain this process owns starts with this; cleanup finds them by it. */
const PREFIX = 'DP-';
const SERVICES = `${PREFIX}SERVICES`;
/** kube-proxy writes probabilities with ten decimals. */
const PROBABILITY_DIGITS = 10;
const POLL_INTERVAL_MS = 1000;

function fail(message: string): never {
  console.error(`service-iptables: ${message}`);
  process.exit(1);
}

if (!inNetworkNamespace()) {
  fail('refusing to program iptables in the root network namespace; run it inside one (rollout/netns.ts enterFreshNetns(), or ip netns exec)');
}
if (!net.isIPv4(host)) fail(`LISTEN_HOST ${host}: expected an IPv4 address`);
if (ports.length === 0 || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) fail(`LISTEN_PORTS ${process.env.LISTEN_PORTS}: expected ports separated by commas`);
if (ports.includes(controlPort)) fail(`CONTROL_PORT ${controlPort} is also a Service port`);
try {
  execFileSync('iptables-restore', ['--version'], { stdio: 'ignore' });
} catch {
  fail('iptables-restore not found: install iptables (rollout/netns.ts ensureIptables() does, before entering the namespace)');
}

let endpoints: Endpoint[] = [];

const svcChain = (port: number): string => `${PREFIX}SVC-${port}`;
const noEndpointChain = (port: number): string => `${PREFIX}NOEP-${port}`;

/** Like KUBE-SEP-*: a stable name per (Service port, endpoint), short enough for iptables' 28 characters. */
function sepChain(servicePort: number, target: string): string {
  const hash = createHash('sha256').update(`${servicePort}/tcp/${target}`).digest('hex').slice(0, 16).toUpperCase();
  return `${PREFIX}SEP-${hash}`;
}

const destination = (port: number): string => `-d ${host}/32 -p tcp -m tcp --dport ${port}`;

/** One DNAT chain per Service port and endpoint: chain name -> "ip:targetPort". */
function sepChains(list: readonly Endpoint[]): Map<string, { servicePort: number; target: string }> {
  const chains = new Map<string, { servicePort: number; target: string }>();
  for (const endpoint of list) {
    ports.forEach((servicePort, index) => {
      const target = `${endpoint.host}:${endpoint.targetPorts[index]}`;
      chains.set(sepChain(servicePort, target), { servicePort, target });
    });
  }
  return chains;
}

function restore(input: string): void {
  execFileSync('iptables-restore', ['-w', '5', '--noflush'], { input, stdio: ['pipe', 'ignore', 'pipe'] });
}

function save(table: 'nat' | 'filter', counters = false): string {
  return execFileSync('iptables-save', counters ? ['-c', '-t', table] : ['-t', table], { encoding: 'utf8' });
}

/** Removes every DP-* chain and the OUTPUT hooks to them, in one transaction per table; safe to call when nothing is installed. */
function removeRules(): void {
  for (const table of ['nat', 'filter'] as const) {
    const lines = save(table).split('\n');
    const chains = lines.filter((line) => line.startsWith(`:${PREFIX}`)).map((line) => line.slice(1).split(' ')[0]);
    const hooks = lines.filter((line) => line.startsWith('-A OUTPUT ') && line.endsWith(`-j ${SERVICES}`));
    if (chains.length === 0 && hooks.length === 0) continue;
    restore([
      `*${table}`,
      ...chains.map((chain) => `:${chain} - [0:0]`),
      ...hooks.map((hook) => `-D${hook.slice(2)}`),
      ...chains.map((chain) => `-X ${chain}`),
      'COMMIT',
      '',
    ].join('\n'));
  }
}

function filterServicesRules(list: readonly Endpoint[]): string[] {
  return list.length === 0 ? ports.map((port) => `-A ${SERVICES} ${destination(port)} -j ${noEndpointChain(port)}`) : [];
}

/** The hooks, DP-SERVICES in both tables, the empty DP-SVC-* chains and the REJECT chains: the state with no endpoints. */
function installBase(): void {
  restore([
    '*nat',
    `:${SERVICES} - [0:0]`,
    ...ports.map((port) => `:${svcChain(port)} - [0:0]`),
    ...ports.map((port) => `-A ${SERVICES} ${destination(port)} -j ${svcChain(port)}`),
    `-I OUTPUT -j ${SERVICES}`,
    'COMMIT',
    '*filter',
    `:${SERVICES} - [0:0]`,
    ...ports.map((port) => `:${noEndpointChain(port)} - [0:0]`),
    ...ports.map((port) => `-A ${noEndpointChain(port)} -p tcp -j REJECT --reject-with tcp-reset`),
    ...filterServicesRules([]),
    `-I OUTPUT -m conntrack --ctstate NEW -j ${SERVICES}`,
    'COMMIT',
    '',
  ].join('\n'));
}

/** One transaction from the installed endpoints to `next`. */
function applyEndpoints(previous: readonly Endpoint[], next: readonly Endpoint[]): void {
  const before = sepChains(previous);
  const after = sepChains(next);
  const created = [...after.keys()].filter((chain) => !before.has(chain));
  const removed = [...before.keys()].filter((chain) => !after.has(chain));
  const nat = [
    '*nat',
    ...ports.map((port) => `:${svcChain(port)} - [0:0]`),
    ...created.map((chain) => `:${chain} - [0:0]`),
    ...removed.map((chain) => `:${chain} - [0:0]`),
    ...created.map((chain) => `-A ${chain} -p tcp -m tcp -j DNAT --to-destination ${after.get(chain)?.target}`),
  ];
  ports.forEach((servicePort, index) => {
    next.forEach((endpoint, i) => {
      const chain = sepChain(servicePort, `${endpoint.host}:${endpoint.targetPorts[index]}`);
      const remaining = next.length - i;
      nat.push(remaining === 1
        ? `-A ${svcChain(servicePort)} -j ${chain}`
        : `-A ${svcChain(servicePort)} -m statistic --mode random --probability ${(1 / remaining).toFixed(PROBABILITY_DIGITS)} -j ${chain}`);
    });
  });
  nat.push(...removed.map((chain) => `-X ${chain}`), 'COMMIT');
  restore([...nat, '*filter', `:${SERVICES} - [0:0]`, ...filterServicesRules(next), 'COMMIT', ''].join('\n'));
}

/** Packet counts last read per counted chain (DP-SEP-* DNAT, DP-NOEP-* REJECT). */
const lastPackets = new Map<string, number>();
let lastPollAt = startedAt;

const COUNTED_RULE = new RegExp(`^\\[(\\d+):\\d+\\] -A (${PREFIX}(?:SEP-\\w+|NOEP-\\d+)) .*-j (DNAT --to-destination (\\S+)|REJECT)`);

/** Reads the counters and adds what is new since the last read to the stats, attributed to the second the interval began in. */
function pollCounters(): void {
  const now = performance.now();
  const intervalStart = lastPollAt - startedAt;
  lastPollAt = now;
  for (const line of (save('nat', true) + save('filter', true)).split('\n')) {
    const match = COUNTED_RULE.exec(line);
    if (match === null) continue;
    const [, packetText, chain, , target] = match;
    const packets = Number(packetText);
    const previous = lastPackets.get(chain) ?? 0;
    const delta = packets >= previous ? packets - previous : packets;
    lastPackets.set(chain, packets);
    if (delta === 0) continue;
    stats.connections += delta;
    if (target === undefined) {
      stats.noEndpoint += delta;
    } else {
      countNewConnections(target, intervalStart, delta);
    }
  }
}

function setEndpoints(next: Endpoint[]): void {
  // Count what the chains about to go saw, then forget them: a chain made again later starts at 0.
  pollCounters();
  applyEndpoints(endpoints, next);
  const kept = sepChains(next);
  for (const chain of sepChains(endpoints).keys()) {
    if (!kept.has(chain)) lastPackets.delete(chain);
  }
  endpoints = next;
}

process.on('exit', () => {
  try {
    removeRules();
  } catch (err) {
    console.error(`service-iptables: could not remove its rules: ${(err as Error).message}`);
  }
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));

// Leftovers of an earlier run that could not clean up (SIGKILL) would otherwise stack up.
removeRules();
installBase();
setInterval(pollCounters, POLL_INTERVAL_MS);
await startControl({ setEndpoints, endpoints: () => endpoints, refreshStats: pollCounters }, 'iptables').catch((err: Error) => fail(err.message));
