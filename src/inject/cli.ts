/**
 * `drain-proxy inject` and `drain-proxy uninject`: the command line around
 * manifests.ts. Reads a file or stdin, writes the manifests to stdout and
 * every problem to stderr, one line each. Exit 0, 1 when a manifest cannot be
 * handled (nothing is written then), 2 for a wrong command line.
 *
 * Helm 4 runs a post-renderer plugin with its stderr captured and discarded
 * (4.1), so under the drain-proxy plugin the same lines also go to the
 * terminal, when there is one.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { ValueTree } from './chart-values.ts';
import { ManifestError } from './errors.ts';
import { injectManifests, uninjectManifests, type ManifestResult } from './manifests.ts';
import { checkValues, DEFAULT_KUBE_VERSION, mergeValues, openShift, parseKubeVersion, parseSet, valuesLayer } from './values.ts';

import { checkProxyConfig, settingsEnv } from './sidecar.ts';
import { readYamlStream } from './yaml-stream.ts';

export const EXIT_OK = 0;
export const EXIT_MANIFEST = 1;
export const EXIT_USAGE = 2;

/** Inputs larger than this are refused rather than read into memory. */
const MAX_INPUT_BYTES = 64 * 1024 * 1024;

const USAGE = `usage: drain-proxy inject [options] [FILE | -]
       drain-proxy uninject [FILE | -]

Adds drain-proxy to the Deployments, StatefulSets, DaemonSets, ReplicaSets and
Pods in FILE (or stdin), with the wiring of the library chart, and writes the
manifests to stdout. uninject removes exactly what inject added.

options (inject):
  --kube-version X.Y   the cluster's Kubernetes version: a native sidecar from
                       1.29, a classic container before (default ${DEFAULT_KUBE_VERSION})
  --mode MODE          auto (from --kube-version), native or classic
  --image REF          the drain-proxy image, repository:tag or repository@sha256:...
  --api-versions API   an API the cluster serves, as helm template takes it (security.openshift.io/v1
                       adapts the securityContext to OpenShift); repeatable
  -f, --values FILE    chart values (the keys of charts/drain-proxy/values.yaml); repeatable
  --set PATH=VALUE     one chart value, e.g. --set drain.timeoutSeconds=40; repeatable
  -h, --help           this text

Per workload, annotations override them: drain-proxy.io/inject: "false",
drain-proxy.io/app-port, drain-proxy.io/drain-timeout, ... (docs/helm.md).
`;

class UsageError extends Error {}

function report(lines: readonly string[]): void {
  if (lines.length === 0) return;
  const text = lines.join('\n') + '\n';
  process.stderr.write(text);
  if (process.env.HELM_PLUGIN_NAME === 'drain-proxy') {
    try {
      writeFileSync('/dev/tty', text);
    } catch {
      // no terminal: Helm keeps only its own message
    }
  }
}

function readInput(file: string | undefined, command: string): { source: string; name: string } {
  const fromStdin = file === undefined || file === '-';
  if (fromStdin && file === undefined && process.stdin.isTTY) throw new UsageError(`drain-proxy ${command}: give a FILE, or - to read the manifests from stdin`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(fromStdin ? 0 : file);
  } catch (err) {
    throw new ManifestError(`cannot read ${fromStdin ? 'stdin' : file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (bytes.length > MAX_INPUT_BYTES) throw new ManifestError(`${fromStdin ? 'stdin' : file}: more than ${MAX_INPUT_BYTES >> 20} MiB of manifests: split the input`);
  return { source: bytes.toString('utf8'), name: fromStdin ? 'stdin' : file };
}

/** `--image REF` as chart values: repository and tag, or repository and digest. */
function imageLayer(ref: string): ValueTree {
  const at = ref.indexOf('@');
  if (at > 0) return { image: { registry: '', repository: ref.slice(0, at), digest: ref.slice(at + 1) } };
  const colon = ref.lastIndexOf(':');
  if (colon <= ref.lastIndexOf('/') || colon === ref.length - 1) {
    throw new UsageError(`--image ${ref}: give a tag or a digest (registry.example.com/drain-proxy:0.1.0, or ...@sha256:...)`);
  }
  return { image: { registry: '', repository: ref.slice(0, colon), tag: ref.slice(colon + 1), digest: '' } };
}

function valuesFile(file: string): ValueTree {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--values ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const stream = readYamlStream(source, file);
  if (stream.documents.length > 1) throw new UsageError(`--values ${file}: one YAML document expected`);
  return valuesLayer(stream.documents[0]?.value ?? {}, file);
}

function runInject(args: string[]): ManifestResult | 'help' {
  const { values, positionals, tokens } = parseArgs({
    args,
    allowPositionals: true,
    tokens: true,
    options: {
      'kube-version': { type: 'string' },
      mode: { type: 'string' },
      image: { type: 'string' },
      'api-versions': { type: 'string', multiple: true },
      values: { type: 'string', short: 'f', multiple: true },
      set: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (positionals.length > 1) throw new UsageError(`drain-proxy inject: one FILE (or -) at most, got ${positionals.length}`);
  // --values and --set apply in the order given, as Helm applies them; the flags after them.
  const layers: ValueTree[] = [];
  for (const token of tokens) {
    if (token.kind !== 'option' || token.value === undefined) continue;
    if (token.name === 'values') layers.push(valuesFile(token.value));
    if (token.name === 'set') layers.push(parseSet(token.value));
  }
  if (values.mode !== undefined) layers.push({ mode: values.mode });
  if (values.image !== undefined) layers.push(imageLayer(values.image));
  let kube: [number, number];
  try {
    kube = parseKubeVersion(values['kube-version'] ?? DEFAULT_KUBE_VERSION);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const apiVersions = values['api-versions'] ?? [];
  const merged = mergeValues(layers);
  // Once for all workloads, as the proxy would take them (each workload's annotations are checked with it).
  checkValues(merged, kube);
  openShift(merged, apiVersions);
  checkProxyConfig(settingsEnv(merged, { upstreamPort: 8080, health: merged.upstream.health }));
  const { source, name } = readInput(positionals[0], 'inject');
  return injectManifests(source, name, { layers, kube, apiVersions });
}

function runUninject(args: string[]): ManifestResult | 'help' {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { help: { type: 'boolean', short: 'h' } } });
  if (values.help) return 'help';
  if (positionals.length > 1) throw new UsageError(`drain-proxy uninject: one FILE (or -) at most, got ${positionals.length}`);
  const { source, name } = readInput(positionals[0], 'uninject');
  return uninjectManifests(source, name);
}

function writeStdout(text: string): Promise<void> {
  return new Promise((resolve) => {
    process.stdout.on('error', () => resolve()); // a reader that went away (EPIPE) is not our failure to report
    process.stdout.write(text, () => resolve());
  });
}

/** Runs `drain-proxy inject|uninject ARGS`; resolves to the exit code. */
export async function runManifestCommand(command: 'inject' | 'uninject', args: string[]): Promise<number> {
  const prefix = `drain-proxy ${command}: `;
  let result: ManifestResult | 'help';
  try {
    result = command === 'inject' ? runInject(args) : runUninject(args);
  } catch (err) {
    if (err instanceof UsageError || (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      report([`${(err as Error).message.startsWith('drain-proxy') ? '' : prefix}${(err as Error).message.split('\n')[0]}`, `run drain-proxy ${command} --help for the options`]);
      return EXIT_USAGE;
    }
    if (err instanceof ManifestError) {
      report([prefix + err.message]);
      return EXIT_MANIFEST;
    }
    throw err;
  }
  if (result === 'help') {
    await writeStdout(USAGE);
    return EXIT_OK;
  }
  if (result.errors.length > 0) {
    report([...result.errors.map((line) => prefix + line), ...result.warnings.map((line) => `${prefix}warning: ${line}`)]);
    return EXIT_MANIFEST;
  }
  report(result.warnings.map((line) => `${prefix}warning: ${line}`));
  await writeStdout(result.output ?? '');
  return EXIT_OK;
}
