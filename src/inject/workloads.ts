/**
 * Where the pods and Services are in a stream of manifests: top-level
 * documents and the items of a `kind: List` (what `kubectl get -o yaml`
 * prints). A workload is found by kind; Jobs and CronJobs are not workloads
 * here (they run to completion: nothing to drain).
 */
import type { ValueTree } from './chart-values.ts';
import type { StreamDocument } from './yaml-stream.ts';
import { isTree } from './values.ts';

/** Kinds whose pods are wired, and where their pod template is. */
const POD_TEMPLATE_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet']);

/** A pod to wire: a Pod, or a workload's pod template. */
export interface PodTarget {
  /** `Deployment shop/web`, as messages name it. */
  readonly label: string;
  readonly document: StreamDocument;
  /** The workload object itself (its annotations count as the pod template's). */
  readonly workload: ValueTree;
  /** The object that holds the pod's `metadata` and `spec`: the Pod, or the workload's spec.template. */
  readonly holder: ValueTree;
  readonly namespace: string | undefined;
}

export interface ServiceTarget {
  readonly label: string;
  readonly document: StreamDocument;
  readonly service: ValueTree;
  readonly namespace: string | undefined;
}

function metadataOf(object: ValueTree): ValueTree {
  return isTree(object.metadata) ? object.metadata : {};
}

export function labelOf(object: ValueTree): string {
  const metadata = metadataOf(object);
  const name = typeof metadata.name === 'string' ? metadata.name : '(unnamed)';
  const namespace = typeof metadata.namespace === 'string' ? `${metadata.namespace}/` : '';
  return `${typeof object.kind === 'string' ? object.kind : '(no kind)'} ${namespace}${name}`;
}

function objectsOf(document: StreamDocument): ValueTree[] {
  const value = document.value;
  if (!isTree(value)) return [];
  if (value.kind === 'List' && Array.isArray(value.items)) return value.items.filter(isTree);
  return [value];
}

export function findTargets(documents: readonly StreamDocument[]): { pods: PodTarget[]; services: ServiceTarget[] } {
  const pods: PodTarget[] = [];
  const services: ServiceTarget[] = [];
  for (const document of documents) {
    for (const object of objectsOf(document)) {
      const namespace = typeof metadataOf(object).namespace === 'string' ? (metadataOf(object).namespace as string) : undefined;
      const label = labelOf(object);
      if (object.kind === 'Service' && isTree(object.spec)) {
        services.push({ label, document, service: object, namespace });
      } else if (object.kind === 'Pod' && isTree(object.spec)) {
        pods.push({ label, document, workload: object, holder: object, namespace });
      } else if (typeof object.kind === 'string' && POD_TEMPLATE_KINDS.has(object.kind) && isTree(object.spec) && isTree(object.spec.template)) {
        const template = object.spec.template;
        if (isTree(template.spec)) pods.push({ label, document, workload: object, holder: template, namespace });
      }
    }
  }
  return { pods, services };
}

/** The pod's labels (what Service selectors match). */
export function podLabels(target: PodTarget): Record<string, unknown> {
  const labels = metadataOf(target.holder).labels;
  return isTree(labels) ? labels : {};
}

/** An annotation of the pod template, or else of the workload. */
export function annotation(target: PodTarget, name: string): string | undefined {
  for (const object of [target.holder, target.workload]) {
    const annotations = metadataOf(object).annotations;
    if (isTree(annotations) && annotations[name] !== undefined && annotations[name] !== null) return String(annotations[name]);
  }
  return undefined;
}
