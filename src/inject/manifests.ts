/**
 * inject and uninject over a whole stream of manifests: every pod first, then
 * the Services in front of the pods wired. Problems are collected per
 * workload, so one run reports all of them; with any, nothing is written.
 */
import { ManifestError } from './errors.ts';
import { injectPod, uninjectPod, type InjectOptions, type WiredApp } from './pod.ts';
import { restoreService, retargetService } from './services.ts';
import { findTargets } from './workloads.ts';
import { readYamlStream } from './yaml-stream.ts';

export interface ManifestResult {
  /** The rewritten stream; undefined when there are errors. */
  readonly output: string | undefined;
  /** One line each, naming the workload and what to change. */
  readonly errors: readonly string[];
  /** One line each: what was left alone, or what drain-proxy cannot cover. */
  readonly warnings: readonly string[];
}

function collect(label: string, errors: string[], work: () => void): void {
  try {
    work();
  } catch (err) {
    if (!(err instanceof ManifestError)) throw err;
    errors.push(`${label}: ${err.message}`);
  }
}

function fromSource(source: string, name: string, run: (stream: ReturnType<typeof readYamlStream>, errors: string[], warnings: string[]) => void): ManifestResult {
  const errors: string[] = [];
  const warnings: string[] = [];
  let stream;
  try {
    stream = readYamlStream(source, name);
  } catch (err) {
    if (!(err instanceof ManifestError)) throw err;
    return { output: undefined, errors: [err.message], warnings };
  }
  run(stream, errors, warnings);
  return { output: errors.length === 0 ? stream.write() : undefined, errors, warnings };
}

export function injectManifests(source: string, name: string, options: InjectOptions): ManifestResult {
  return fromSource(source, name, (stream, errors, warnings) => {
    const { pods, services } = findTargets(stream.documents);
    const wired: WiredApp[] = [];
    for (const target of pods) {
      collect(target.label, errors, () => {
        const outcome = injectPod(target, options);
        if ('wired' in outcome) {
          wired.push(outcome.wired);
          target.document.changed = true;
        } else if (outcome.leftAlone !== undefined) {
          warnings.push(`${target.label}: ${outcome.leftAlone}`);
        }
      });
    }
    if (errors.length > 0) return;
    for (const service of services) {
      collect(service.label, errors, () => {
        for (const warning of retargetService(service, wired)) warnings.push(`${service.label}: ${warning}`);
      });
    }
  });
}

export function uninjectManifests(source: string, name: string): ManifestResult {
  return fromSource(source, name, (stream, errors, warnings) => {
    const { pods, services } = findTargets(stream.documents);
    for (const target of pods) {
      collect(target.label, errors, () => {
        const outcome = uninjectPod(target);
        if ('restored' in outcome) target.document.changed = true;
        else if (outcome.leftAlone !== undefined) warnings.push(`${target.label}: ${outcome.leftAlone}`);
      });
    }
    for (const service of services) {
      collect(service.label, errors, () => {
        if (restoreService(service)) service.document.changed = true;
      });
    }
  });
}
