/**
 * `helm lint` passes for both charts (the example also with each ci/*.yaml),
 * and the library chart is not installable on its own. Lint renders in lint
 * mode, where `fail` only logs: the chart's own refusals are tested with
 * `helm template` (failures.test.ts); lint does apply values.schema.json.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { eachHelm, exampleChart, libraryChart } from './helm.ts';

const ciFiles = readdirSync(path.join(exampleChart, 'ci')).filter((f) => f.endsWith('.yaml')).sort();

eachHelm((helm) => {
  test('helm lint: library chart', () => {
    const result = helm.run(['lint', libraryChart]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  test('helm lint: example chart', () => {
    const result = helm.run(['lint', helm.exampleChart]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  for (const file of ciFiles) {
    test(`helm lint: example chart with ci/${file}`, () => {
      const result = helm.run(['lint', helm.exampleChart, '-f', path.join(exampleChart, 'ci', file)]);
      assert.equal(result.code, 0, result.stdout + result.stderr);
    });
  }

  test('helm lint applies the schema: a misspelt key fails the lint', () => {
    const result = helm.run(['lint', helm.exampleChart, '--set', 'drainProxy.drain.timeout=30']);
    assert.notEqual(result.code, 0);
    assert.match(result.stdout + result.stderr, /drainProxy:[\s\S]*timeout/);
  });

  test("helm lint only logs a template's fail; helm template refuses the same values", () => {
    const set = ['--set', 'drainProxy.drain.delaySeconds=40'];
    const message = /drain\.delaySeconds \(40\) must be less than drain\.timeoutSeconds \(25\)/;
    const lint = helm.run(['lint', helm.exampleChart, ...set]);
    assert.equal(lint.code, 0, 'lint mode turns fail into a log line (helm/helm#8973)');
    assert.match(lint.stdout + lint.stderr, message);
    assert.match(helm.renderFailure({ set: set.slice(1) }), message);
  });

  test('the library chart renders nothing on its own', () => {
    const result = helm.run(['template', 'x', libraryChart]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /library charts are not installable/);
  });
});
