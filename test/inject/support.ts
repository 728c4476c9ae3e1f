/**
 * What the inject tests share: the fixtures, inject/uninject in-process, the
 * objects of a manifest stream (List items included), and the checks every
 * wired pod must pass (the chart tests' checks, on the pod inject wired).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { injectManifests, uninjectManifests, type ManifestResult } from '../../src/inject/manifests.ts';
import type { ValueTree } from '../../src/inject/chart-values.ts';
import { DEFAULT_KUBE_VERSION, parseKubeVersion } from '../../src/inject/values.ts';
import { readYamlStream } from '../../src/inject/yaml-stream.ts';
import { validateAll } from '../charts/kube-models.ts';
import type { K8sObject } from '../charts/objects.ts';
import { checkPodWiring, podWiring, type Wiring } from '../charts/pod.ts';

export const fixtures = path.join(import.meta.dirname, 'fixtures');
export const repoRoot = path.resolve(import.meta.dirname, '../..');

export function fixture(name: string): string {
  return readFileSync(path.join(fixtures, 'manifests', name), 'utf8');
}

export interface InjectRun {
  layers?: ValueTree[];
  kubeVersion?: string;
  apiVersions?: string[];
}

export function inject(source: string, run: InjectRun = {}): ManifestResult {
  return injectManifests(source, 'test.yaml', { layers: run.layers ?? [], kube: parseKubeVersion(run.kubeVersion ?? DEFAULT_KUBE_VERSION), apiVersions: run.apiVersions });
}

/** inject that must succeed: its output. */
export function injected(source: string, run: InjectRun = {}): string {
  const result = inject(source, run);
  assert.deepEqual(result.errors, [], 'inject reports no error');
  assert.ok(result.output !== undefined);
  return result.output;
}

export function uninjected(source: string): string {
  const result = uninjectManifests(source, 'test.yaml');
  assert.deepEqual(result.errors, [], 'uninject reports no error');
  return result.output!;
}

/** The documents of a stream as values, read as inject reads them. */
export function documentsOf(text: string): unknown[] {
  return readYamlStream(text, 'test.yaml').documents.map((d) => d.value);
}

/** Every object of a stream, the items of a List in its place. */
export function objectsOf(text: string): K8sObject[] {
  return documentsOf(text).flatMap((value: any) => (value === null ? [] : value.kind === 'List' ? value.items : [value]));
}

export function named(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && o.metadata?.name === name);
  assert.equal(found.length, 1, `one ${kind} ${name}`);
  return found[0];
}

export function podSpecOf(object: K8sObject): any {
  return object.kind === 'Pod' ? object.spec : object.spec.template.spec;
}

export function podMetadataOf(object: K8sObject): any {
  return object.kind === 'Pod' ? object.metadata : object.spec.template.metadata;
}

/**
 * The chart's checks on a wired workload (test/charts/pod.ts) with the
 * Services in front of it, each reduced to the ports that should reach the
 * proxy; returns the wiring.
 */
export function checkWired(workload: K8sObject, services: [K8sObject, string[]][] = []): Wiring {
  const w = podWiring(podSpecOf(workload));
  const reduced = services.map(([service, ports]) => ({ ...service, spec: { ...service.spec, ports: service.spec.ports.filter((p: any) => ports.includes(p.name)) } }));
  checkPodWiring(w, reduced);
  return w;
}

/** Every object against the Kubernetes API schemas (managedFields left out: its fieldsV1 is free-form, which the schemas' walk cannot follow). */
export async function validateObjects(objects: K8sObject[]): Promise<void> {
  await validateAll(
    objects.map((object) => {
      const copy: any = structuredClone(object);
      delete copy.metadata.managedFields;
      return copy;
    }),
  );
}

/**
 * The promises inject makes about a stream: it validates against the API,
 * injecting again changes nothing (byte for byte), uninject gives back the
 * same objects, and every document inject left alone is written as it was.
 */
export async function checkRoundTrip(source: string, output: string, run: InjectRun = {}): Promise<void> {
  await validateObjects(objectsOf(output));
  assert.equal(injected(output, run), output, 'injecting twice equals injecting once');
  const back = uninjected(output);
  assert.deepEqual(documentsOf(back), documentsOf(source), 'uninject(inject(x)) is x, as parsed objects');
  const before = readYamlStream(source, 'source').documents;
  const after = readYamlStream(output, 'output').documents;
  assert.equal(after.length, before.length, 'no document lost or added');
  const restored = readYamlStream(back, 'back').documents;
  for (const [i, doc] of before.entries()) {
    if (isDeepEqual(doc.value, after[i].value)) {
      assert.equal(after[i].source, doc.source, `document ${i + 1}, unchanged, is written as it was read`);
      assert.equal(restored[i].source, doc.source, `document ${i + 1}, unchanged, comes back from uninject as it was read`);
    }
  }
}

function isDeepEqual(a: unknown, b: unknown): boolean {
  try {
    assert.deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

export function envOf(container: any): Map<string, string> {
  return new Map((container.env ?? []).filter((e: any) => e.value !== undefined).map((e: any) => [e.name, e.value]));
}
