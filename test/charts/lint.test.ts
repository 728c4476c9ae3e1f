/**
 * `helm lint` passes for both charts (the example also with each ci/*.yaml),
 * and the library chart is not installable on its own.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { exampleChart, helm, libraryChart } from './helm.ts';

describe('helm lint', () => {
  test('library chart', () => {
    const result = helm(['lint', libraryChart]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  test('example chart', () => {
    const result = helm(['lint', exampleChart]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  for (const file of readdirSync(path.join(exampleChart, 'ci')).filter((f) => f.endsWith('.yaml')).sort()) {
    test(`example chart with ci/${file}`, () => {
      const result = helm(['lint', exampleChart, '-f', path.join(exampleChart, 'ci', file)]);
      assert.equal(result.code, 0, result.stdout + result.stderr);
    });
  }

  test('lint reports a values error', () => {
    const result = helm(['lint', exampleChart, '--set', 'drainProxy.drain.delaySeconds=40']);
    assert.notEqual(result.code, 0);
    assert.match(result.stdout + result.stderr, /drain\.delaySeconds \(40\) must be less than drain\.timeoutSeconds \(25\)/);
  });

  test('the library chart renders nothing on its own', () => {
    const result = helm(['template', 'x', libraryChart]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /library charts are not installable/);
  });
});
