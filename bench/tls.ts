// The TLS section of npm run bench (`npm run bench -- tls` runs it alone): drain-proxy and nginx terminating TLS
// the same way (the same certificate, TLS 1.2+ with drain-proxy's ciphers and groups, ALPN h2 and http/1.1 on one
// port), each proxying to the same cleartext app (nginx, as in the h2 section):
//   HTTPS/1.1:         h2load --h1 over keep-alive TLS; nginx `proxy_pass` HTTP/1.1 | drain-proxy UPSTREAM_PROTOCOL=http1
//   HTTP/2 over TLS:   h2load, ALPN h2; nginx `grpc_pass grpc://` (h2c) | drain-proxy UPSTREAM_PROTOCOL=h2c
// in one run, rounds rotated; req/s, mean request time, each proxy's CPU per request (from /proc), and drain-proxy's
// over nginx's (median of the per-round ratios) against the goal of 1.3x. Every connection is opened once per run
// and kept: the handshakes are a few dozen per run against hundreds of thousands of requests.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadRounds, reportMedians, summarize } from '../harness/bench.ts';
import { ensureOpenssl, makeCa, makeLeaf } from '../harness/certificates.ts';
import { startDrainProxy } from '../harness/drain-proxy.ts';
import { freePorts } from '../harness/ports.ts';
import { HEADER, parseH2load, ratioLines, rows, runH2load, type H2Target } from './h2.ts';
import { checkTarget, pipeNote, startNodePipe } from './http1.ts';
import { startNginxH2cApp, startNginxH2Proxy, type TlsFiles } from './nginx.ts';
import { APP_BODY, BENCH_PROXY_ENV, markers, measuredOn, positiveIntegerFromEnv, writeRawOutput, type BenchContext, type BenchSection } from './session.ts';

const settings = {
  durationSeconds: positiveIntegerFromEnv('BENCH_TLS_DURATION', 5),
  warmupSeconds: positiveIntegerFromEnv('BENCH_TLS_WARMUP', 1),
  /** h2load --h1 -c: HTTPS/1.1 connections, as many as the http1 section's wrk. */
  h1Clients: positiveIntegerFromEnv('BENCH_TLS_H1_CLIENTS', 32),
  /** h2load -c and -m for HTTP/2 over TLS, as in the h2 section. */
  h2Clients: positiveIntegerFromEnv('BENCH_TLS_H2_CLIENTS', 8),
  h2Streams: positiveIntegerFromEnv('BENCH_TLS_H2_STREAMS', 16),
};

const UNITS = { rate: 'req/s', latency: 'mean', operation: 'req' };

interface TlsTarget extends H2Target {
  /** What ALPN must have chosen, and h2load's load arguments. */
  readonly alpn: 'http/1.1' | 'h2';
  readonly loadArgs: readonly string[];
  /** The job, for the verdict: 'HTTPS/1.1 (HTTP/1.1 upstream)'. */
  readonly job: string;
  /** A floor measured for reference (the raw Node TLS pipe), with no verdict of its own. */
  readonly reference?: true;
}

/** What h2load says the handshake settled on: `TLSv1.3, TLS_AES_128_GCM_SHA256, X25519, ALPN h2`. */
export function parseTlsSession(output: string): { readonly alpn: string; readonly summary: string } {
  const field = (name: string): string => new RegExp(`^${name}: (.+)$`, 'm').exec(output)?.[1].trim() ?? '?';
  const alpn = field('Application protocol');
  return { alpn, summary: `${field('TLS Protocol')}, ${field('Cipher')}, ${field('Server Temp Key').replace(/ \d+ bits$/, '')}, ALPN ${alpn}` };
}

const TLS_PIPE = 'node TLS pipe HTTPS/1.1';

/** A fresh CA and a leaf for 127.0.0.1 signed by it: the files both proxies serve, and the CA the checks trust. */
function certificates(dir: string): { files: TlsFiles; ca: Buffer } {
  const missing = ensureOpenssl();
  if (missing !== undefined) throw new Error(`the TLS section needs openssl: ${missing}`);
  mkdirSync(dir, { recursive: true });
  const ca = makeCa(dir);
  const leaf = makeLeaf(dir, 'bench');
  // makeLeaf writes the leaf alone to bench.crt; servers are given the chain.
  const files = { certFile: join(dir, 'bench-chain.crt'), keyFile: join(dir, 'bench.key') };
  writeFileSync(files.certFile, leaf.cert);
  return { files, ca: ca.cert };
}

async function run(context: BenchContext): Promise<string | undefined> {
  const { files, ca } = certificates(join(context.tempDir, 'tls'));
  const [h2Port, http1Port, nginxH1Port, nginxH1CheckPort, nginxH2Port, nginxH2CheckPort] = await freePorts(6);
  const app = await startNginxH2cApp(join(context.tempDir, 'tls-app'), h2Port, http1Port, APP_BODY);
  const h2Concurrency = settings.h2Clients * settings.h2Streams;
  const nginxH1 = await startNginxH2Proxy(join(context.tempDir, 'nginx-tls-http1'), nginxH1Port, nginxH1CheckPort, 'http1', http1Port, settings.h1Clients, files);
  const nginxH2 = await startNginxH2Proxy(join(context.tempDir, 'nginx-tls-h2c'), nginxH2Port, nginxH2CheckPort, 'h2c', h2Port, h2Concurrency, files);
  const tlsEnv = { ...BENCH_PROXY_ENV, TLS_CERT_FILE: files.certFile, TLS_KEY_FILE: files.keyFile };
  // BENCH_TLS_CPU_PROF=DIR: drain-proxy under --cpu-prof, its profiles written to DIR when it stops (the figures then include the profiler).
  const profileDir = process.env.BENCH_TLS_CPU_PROF;
  const nodeFlags = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
  const viaH1 = await startDrainProxy(http1Port, { env: { ...tlsEnv, UPSTREAM_PROTOCOL: 'http1' }, nodeFlags });
  const viaH2 = await startDrainProxy(h2Port, { env: { ...tlsEnv, UPSTREAM_PROTOCOL: 'h2c' }, nodeFlags });
  const https = (url: string): string => url.replace(/^http:/, 'https:');
  const h1 = { alpn: 'http/1.1', loadArgs: ['--h1', '-c', String(settings.h1Clients)], job: 'HTTPS/1.1 (HTTP/1.1 upstream)' } as const;
  const h2 = { alpn: 'h2', loadArgs: ['-c', String(settings.h2Clients), '-m', String(settings.h2Streams)], job: 'HTTP/2 over TLS (h2c upstream)' } as const;
  const targets: TlsTarget[] = [
    { ...h1, name: 'nginx HTTPS/1.1', url: `https://127.0.0.1:${nginxH1Port}/`, proxyPid: nginxH1.pid },
    { ...h1, name: 'drain-proxy HTTPS/1.1', url: https(viaH1.url('/')), proxyPid: viaH1.pid, pairedWith: 'nginx HTTPS/1.1' },
    { ...h2, name: 'nginx HTTP/2 TLS', url: `https://127.0.0.1:${nginxH2Port}/`, proxyPid: nginxH2.pid },
    { ...h2, name: 'drain-proxy HTTP/2 TLS', url: https(viaH2.url('/')), proxyPid: viaH2.pid, pairedWith: 'nginx HTTP/2 TLS' },
  ];
  const pipe = await startNodePipe(http1Port, APP_BODY, { ...files, ca });
  targets.push({ ...h1, name: TLS_PIPE, url: pipe.url, proxyPid: pipe.proxyPid, pairedWith: 'nginx HTTPS/1.1', reference: true });
  for (const target of targets) if (target.reference !== true) await checkTarget(target, ca, target.alpn === 'h2');
  const sessions = new Map<string, string>();
  const loads = targets.filter((t, i) => targets.findIndex((o) => o.alpn === t.alpn) === i).map((t) => `${t.alpn} ${t.loadArgs.join(' ')}`);
  const runs = await loadRounds('TLS', targets, context.rounds, UNITS, {
    ...settings, appPid: app.pid, command: `h2load -t1 -D${settings.durationSeconds}: ${loads.join(', ')}`,
  }, async (target, seconds, round) => {
    const output = await runH2load(target.url, seconds, target.loadArgs);
    if (round === undefined) return parseH2load(output);
    writeRawOutput(`tls-${target.name.replace(/[ /]/g, '-')}-round${round}.txt`, output);
    const session = parseTlsSession(output);
    if (session.alpn !== target.alpn) throw new Error(`${target.name}: ALPN chose ${session.alpn}, not ${target.alpn}:\n${output}`);
    sessions.set(target.name, session.summary);
    return parseH2load(output);
  });
  for (const target of targets) {
    const nginx = target.pairedWith === undefined ? undefined : sessions.get(target.pairedWith);
    if (nginx !== undefined && nginx !== sessions.get(target.name)) {
      throw new Error(`${target.name} negotiated ${sessions.get(target.name)}, ${target.pairedWith} ${nginx}: not the same TLS`);
    }
  }
  const summaries = summarize(targets, runs);
  const floor = pipeNote(summaries, { proxy: 'drain-proxy HTTPS/1.1', pipe: TLS_PIPE, nginx: 'nginx HTTPS/1.1' });
  const verdicts = [
    ...ratioLines(summaries, targets.filter((target) => target.reference !== true), (target) => (target as TlsTarget).job),
    `For reference, HTTPS/1.1 with TLS terminated alike${floor}`,
  ];
  const tail = reportMedians('TLS', context, UNITS, summaries, HEADER, rows(summaries, targets), verdicts);
  return `${measuredOn(context)}
- Versions: Node ${context.versions.node} (its bundled OpenSSL ${process.versions.openssl}), nginx ${context.versions.nginx}, h2load ${context.versions.h2load}
- Load: h2load \`-t1 -D${settings.durationSeconds}\` after a ${settings.warmupSeconds} s warm-up, HTTPS/1.1 \`--h1 -c${settings.h1Clients}\`, HTTP/2 over TLS \`-c${settings.h2Clients} -m${settings.h2Streams}\`,
  keep-alive (each connection's handshake once per run), ${Buffer.byteLength(APP_BODY)}-byte bodies, ${context.rounds} rounds in rotating order; medians over the rounds
- Both proxies: one worker or thread, the same ECDSA P-256 certificate, TLS 1.2 and 1.3 with drain-proxy's ciphers and groups
  (\`src/listeners/tls-credentials.ts\`; nginx \`listen ... ssl http2\`, ALPN h2 and http/1.1), the same header work (Host kept,
  X-Forwarded-For appended, X-Forwarded-Proto https), in front of the same cleartext nginx app: HTTPS/1.1 with nginx \`proxy_pass\`
  (HTTP/1.1 keep-alive pool) and drain-proxy \`UPSTREAM_PROTOCOL=http1\`; HTTP/2 with nginx \`grpc_pass grpc://\` (h2c) and drain-proxy
  \`UPSTREAM_PROTOCOL=h2c\`
- Negotiated (h2load's report): ${targets.map((target) => `${target.name} ${sessions.get(target.name)}`).join('; ')}
- CPU is the proxy's process tree's, from /proc; the ratio is the median of the per-round ratios to the nginx doing the same job;
  h2load reports no percentiles: the mean request time is its \`time for request\` mean

${tail}`;
}

export const tlsSection: BenchSection = { name: 'tls', switch: 'BENCH_TLS', markers: markers('bench-tls-results', 'Latest TLS run'), needsDrainProxy: true, run };
