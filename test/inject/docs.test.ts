/**
 * docs/helm.md's "chart you don't own" section holds what inject does: the
 * annotations table lists exactly the annotations inject reads and writes,
 * each value annotation with the chart value it sets, and the post-renderer
 * commands are the ones post-renderer.test.ts runs with the real Helm.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { APP_PORT, INJECT, INJECTED, MODE, MODE_REASON, ORIGINAL_PRESTOP, ORIGINAL_TARGET_PORTS, VALUE_ANNOTATIONS } from '../../src/inject/annotations.ts';
import { repoRoot } from './support.ts';

const doc = readFileSync(path.join(repoRoot, 'docs/helm.md'), 'utf8');
const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');

function block(name: string): string {
  const match = new RegExp(`<!-- test: ${name} -->\\n\`\`\`sh\\n([\\s\\S]*?)\\n\`\`\``).exec(doc);
  assert.ok(match, `docs/helm.md has a sh block marked <!-- test: ${name} -->`);
  return match[1];
}

test('the annotations table lists exactly the annotations inject reads and writes', () => {
  const rows = new Map(
    [...doc.matchAll(/^\| (`drain-proxy[^|]*`) \| (.*) \|$/gm)].flatMap((m) => [...m[1].matchAll(/`(drain-proxy(?:\.io)?\/[a-z-]+)`/g)].map((name) => [name[1], m[2]] as const)),
  );
  const expected = [INJECT, APP_PORT, ...Object.keys(VALUE_ANNOTATIONS), MODE, MODE_REASON, INJECTED, ORIGINAL_PRESTOP, ORIGINAL_TARGET_PORTS];
  assert.deepEqual([...rows.keys()].sort(), expected.sort());
  for (const [name, [valuePath]] of Object.entries(VALUE_ANNOTATIONS)) {
    assert.ok(rows.get(name)!.includes(`\`${valuePath}\``), `${name}'s row names the value it sets, ${valuePath}`);
  }
});

test('the post-renderer commands: two for Helm 3, three for Helm 4, as the tests run them', () => {
  const helm3 = block('post-renderer-helm3').split('\n');
  const helm4 = block('post-renderer-helm4').split('\n');
  assert.equal(helm3.length, 2);
  assert.equal(helm4.length, 3);
  assert.match(helm3[1], /^helm install \S+ \S+ --post-renderer drain-proxy --post-renderer-args inject$/);
  assert.equal(helm4[1], 'helm plugin install helm-plugin');
  assert.match(helm4[2], /^helm install \S+ \S+ --post-renderer drain-proxy$/);
  assert.equal(helm3[0], helm4[0], 'the same CLI install for both');
});

test("the README's quick start mentions inject and the post-renderer", () => {
  const quickStart = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('\n## ', readme.indexOf('## Quick start') + 1));
  assert.match(quickStart, /drain-proxy inject/);
  assert.match(quickStart, /--post-renderer/);
});
