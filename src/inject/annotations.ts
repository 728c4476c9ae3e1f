/**
 * The `drain-proxy.io/*` annotations: those a user puts on a workload or its
 * pod template to steer `inject`, and those `inject` writes so that
 * `uninject` can undo it exactly. docs/helm.md's annotations table lists the
 * same (a test compares them).
 */
import type { ValueTree } from './chart-values.ts';
import { ManifestError } from './errors.ts';
import { layerAt } from './values.ts';

export const INJECT = 'drain-proxy.io/inject';
export const APP_PORT = 'drain-proxy.io/app-port';
/** Written by inject: what it changed, as JSON (InjectRecord). */
export const INJECTED = 'drain-proxy.io/injected';
/** Written by inject: the preStop hooks it replaced, as JSON by container name. */
export const ORIGINAL_PRESTOP = 'drain-proxy.io/original-prestop';
/** Written by inject on a Service: the targetPorts it changed, as JSON. */
export const ORIGINAL_TARGET_PORTS = 'drain-proxy.io/original-target-ports';
export const DEFAULT_CONTAINER = 'kubectl.kubernetes.io/default-container';
/** Written by inject, as by the chart: native or classic, and what decided it. */
export const MODE = 'drain-proxy/mode';
export const MODE_REASON = 'drain-proxy/mode-reason';

type Parse = (text: string) => unknown;

const port: Parse = (text) => {
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || value < 1 || value > 65535) throw new Error('expected a port number from 1 to 65535');
  return value;
};
const seconds: Parse = (text) => {
  const m = /^([0-9]+)s?$/.exec(text.trim());
  if (m === null) throw new Error('expected whole seconds, such as 25 or 25s');
  return Number(m[1]);
};
const verbatim: Parse = (text) => text;

/** Annotation -> the chart value it sets for that workload, and how its text reads. */
export const VALUE_ANNOTATIONS: Readonly<Record<string, readonly [valuePath: string, parse: Parse]>> = {
  'drain-proxy.io/listen-port': ['listen.port', port],
  'drain-proxy.io/admin-port': ['admin.port', port],
  'drain-proxy.io/upstream-health': ['upstream.health', verbatim],
  'drain-proxy.io/upstream-protocol': ['upstream.protocol', verbatim],
  'drain-proxy.io/drain-delay': ['drain.delaySeconds', seconds],
  'drain-proxy.io/drain-timeout': ['drain.timeoutSeconds', seconds],
  'drain-proxy.io/drain-idle-close': ['drain.idleClose', verbatim],
  'drain-proxy.io/termination-grace-period': ['terminationGracePeriodSeconds', seconds],
};

/** The values layer a workload's annotations make (read through `lookup`, pod template first). */
export function annotationLayers(lookup: (name: string) => string | undefined): ValueTree[] {
  const layers: ValueTree[] = [];
  for (const [name, [valuePath, parse]] of Object.entries(VALUE_ANNOTATIONS)) {
    const text = lookup(name);
    if (text === undefined) continue;
    let value: unknown;
    try {
      value = parse(text);
    } catch (err) {
      throw new ManifestError(`annotation ${name}: ${JSON.stringify(text)}: ${(err as Error).message}`);
    }
    layers.push(layerAt(valuePath, value));
  }
  return layers;
}
