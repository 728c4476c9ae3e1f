/**
 * The Services in front of a wired pod. One that targets the app port by name
 * needs nothing (the proxy took the name); one that targets its number is
 * retargeted to the proxy's port, the old targets kept in
 * `drain-proxy.io/original-target-ports` for uninject. A headless Service
 * cannot be retargeted: its clients connect to pod IPs at the port they know.
 */
import type { ValueTree } from './chart-values.ts';
import { ORIGINAL_TARGET_PORTS } from './annotations.ts';
import { ManifestError } from './errors.ts';
import type { WiredApp } from './pod.ts';
import { isTree } from './values.ts';
import { podLabels, type ServiceTarget } from './workloads.ts';

/** What inject changed in a Service: [port index, its targetPort before] (no second item: there was none). */
interface ServiceRecord {
  targetPorts: ([number] | [number, unknown])[];
  added: string[];
}

function selects(service: ServiceTarget, app: WiredApp): boolean {
  const selector = (service.service.spec as ValueTree).selector;
  if (!isTree(selector) || Object.keys(selector).length === 0) return false;
  if (service.namespace !== undefined && app.target.namespace !== undefined && service.namespace !== app.target.namespace) return false;
  const labels = podLabels(app.target);
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

function portsOf(service: ValueTree): ValueTree[] {
  const spec = service.spec as ValueTree;
  return Array.isArray(spec.ports) ? spec.ports.filter(isTree) : [];
}

function readRecord(annotations: ValueTree): ServiceRecord {
  try {
    const record = JSON.parse(String(annotations[ORIGINAL_TARGET_PORTS])) as ServiceRecord;
    if (Array.isArray(record.targetPorts) && record.targetPorts.every((e) => Array.isArray(e) && typeof e[0] === 'number') && Array.isArray(record.added)) return record;
  } catch {
    // reported below
  }
  throw new ManifestError(`annotation ${ORIGINAL_TARGET_PORTS} is not a record written by drain-proxy inject: restore the Service's targetPort by hand`);
}

/** Retargets the Service to the proxies of the wired pods it selects; returns warnings. */
export function retargetService(service: ServiceTarget, apps: readonly WiredApp[]): string[] {
  const warnings: string[] = [];
  const spec = service.service.spec as ValueTree;
  const headless = spec.clusterIP === 'None';
  const record: ServiceRecord = { targetPorts: [], added: [] };
  portsOf(service.service).forEach((port, index) => {
    if ((port.protocol ?? 'TCP') !== 'TCP') return;
    const target = port.targetPort ?? port.port;
    for (const app of apps) {
      if (!selects(service, app)) continue;
      const byNumber = target === app.number;
      const byName = typeof target === 'string' && target === app.name;
      if (!byNumber && !byName) continue;
      if (headless) {
        warnings.push(
          `headless (clusterIP: None): its clients connect to the pods of ${app.target.label} at port ${app.number} and bypass drain-proxy; connect through a Service with a cluster IP to be drained`,
        );
      } else if (byNumber) {
        record.targetPorts.push('targetPort' in port ? [index, port.targetPort] : [index]);
        port.targetPort = app.proxyPortName;
      }
      break;
    }
  });
  if (record.targetPorts.length > 0) {
    const holder = service.service;
    if (!isTree(holder.metadata)) {
      record.added.push('metadata');
      holder.metadata = {};
    }
    const metadata = holder.metadata as ValueTree;
    if (!isTree(metadata.annotations)) {
      if (metadata.annotations === undefined) record.added.push('annotations');
      else if (metadata.annotations === null) record.added.push('annotations:null');
      else throw new ManifestError('metadata.annotations is not a mapping: fix the manifest');
      metadata.annotations = {};
    }
    const annotations = metadata.annotations as ValueTree;
    const earlier = annotations[ORIGINAL_TARGET_PORTS] === undefined ? undefined : readRecord(annotations);
    if (earlier !== undefined) {
      record.targetPorts.unshift(...earlier.targetPorts);
      record.added.unshift(...earlier.added);
    }
    annotations[ORIGINAL_TARGET_PORTS] = JSON.stringify(record);
    service.document.changed = true;
  }
  return warnings;
}

/** Puts back the targetPorts inject changed; true when the Service changed. */
export function restoreService(service: ServiceTarget): boolean {
  const holder = service.service;
  const metadata = isTree(holder.metadata) ? holder.metadata : {};
  const annotations = isTree(metadata.annotations) ? metadata.annotations : {};
  if (annotations[ORIGINAL_TARGET_PORTS] === undefined) return false;
  const record = readRecord(annotations);
  const ports = portsOf(holder);
  for (const entry of record.targetPorts) {
    const port = ports[entry[0]];
    if (port === undefined) throw new ManifestError(`port ${entry[0]} that inject retargeted is gone: restore the Service from its source`);
    if (entry.length === 1) delete port.targetPort;
    else port.targetPort = entry[1];
  }
  delete annotations[ORIGINAL_TARGET_PORTS];
  if (Object.keys(annotations).length === 0) {
    if (record.added.includes('annotations')) delete metadata.annotations;
    else if (record.added.includes('annotations:null')) metadata.annotations = null;
  }
  if (record.added.includes('metadata') && Object.keys(metadata).length === 0) delete holder.metadata;
  return true;
}
