/**
 * The example chart's rendered output, pinned: the default values on
 * Kubernetes 1.32 (native sidecar) and on 1.28 (classic), each with an
 * explicit --kube-version (Helm 3 and Helm 4 assume different clusters), in
 * the order real Helm prints documents (by kind), the same file for every
 * Helm version. A change to the chart shows up here as a diff to review;
 * accept it with
 *   UPDATE_CHART_SNAPSHOTS=1 npx node --test test/charts/snapshot.test.ts
 * The demo app's code and its checksum are left out: they follow demo/legacy-app.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { eachHelm, type K8sObject } from './helm.ts';

const dir = path.join(import.meta.dirname, 'snapshots');

function pinned(objects: K8sObject[]): string {
  const copy = structuredClone(objects);
  for (const o of copy) {
    if (o.data?.['legacy-app.ts'] !== undefined) o.data['legacy-app.ts'] = '<demo/legacy-app.ts>';
    const annotations = o.spec?.template?.metadata?.annotations;
    if (annotations?.['checksum/app'] !== undefined) annotations['checksum/app'] = '<sha256 of demo/legacy-app.ts>';
  }
  return copy.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}

eachHelm((helm) => {
  for (const [name, options] of [
    ['example-default.yaml', { kubeVersion: '1.32.0' }],
    ['example-kube-1.28.yaml', { kubeVersion: '1.28.0' }],
  ] as const) {
    test(`rendered output pinned: ${name}`, () => {
      const file = path.join(dir, name);
      const actual = pinned(helm.render(options));
      if (process.env.UPDATE_CHART_SNAPSHOTS === '1' || !existsSync(file)) {
        mkdirSync(dir, { recursive: true });
        writeFileSync(file, actual);
      }
      assert.equal(actual, readFileSync(file, 'utf8'), `${name} differs from the rendering; review, then UPDATE_CHART_SNAPSHOTS=1`);
    });
  }
});
