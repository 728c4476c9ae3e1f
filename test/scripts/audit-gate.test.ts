import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { auditVerdict } from '../../scripts/audit-gate.ts';

const GATE = fileURLToPath(new URL('../../scripts/audit-gate.ts', import.meta.url));

/** The shape of `npm audit --json` (report version 2) with the given counts. */
function report(counts: Partial<Record<'info' | 'low' | 'moderate' | 'high' | 'critical', number>>): string {
  const full = { info: 0, low: 0, moderate: 0, high: 0, critical: 0, ...counts };
  const total = Object.values(full).reduce((a, b) => a + b, 0);
  return JSON.stringify({ auditReportVersion: 2, vulnerabilities: {}, metadata: { vulnerabilities: { ...full, total }, dependencies: { prod: 20, dev: 0, total: 20 } } });
}

/** What npm audit prints when the registry mirror refuses the bulk advisory endpoint. */
const UNREACHABLE = JSON.stringify({
  message: '405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk',
  method: 'POST',
  statusCode: 405,
  body: '',
  error: { summary: '', detail: '' },
});

describe('npm audit gate', () => {
  it('fails on a high or a critical advisory', () => {
    assert.equal(auditVerdict(report({ high: 1 }), false).exitCode, 1);
    assert.equal(auditVerdict(report({ critical: 2, low: 3 }), false).exitCode, 1);
    assert.match(auditVerdict(report({ critical: 2, high: 1 }), false).line, /2 critical and 1 high/);
  });

  it('passes a clean report, and one with only lower advisories', () => {
    assert.equal(auditVerdict(report({}), true).exitCode, 0);
    assert.deepEqual(auditVerdict(report({ low: 2, moderate: 1 }), true), {
      exitCode: 0,
      line: 'npm audit: no high or critical advisory in production dependencies (3 lower)',
    });
  });

  it('an unreachable endpoint (or no report at all) warns and passes, or fails with REQUIRE_AUDIT', () => {
    for (const text of [UNREACHABLE, '', 'npm ERR! something']) {
      const lenient = auditVerdict(text, false);
      assert.equal(lenient.exitCode, 0);
      assert.match(lenient.line, /^WARNING: npm audit SKIPPED/);
      assert.equal(auditVerdict(text, true).exitCode, 1);
    }
    assert.match(auditVerdict(UNREACHABLE, false).line, /405 Method Not Allowed/);
  });

  it('as CI runs it: the report on stdin, the verdict as exit code', () => {
    const run = (input: string, env: NodeJS.ProcessEnv = {}) =>
      spawnSync(process.execPath, [GATE], { input, encoding: 'utf8', env: { ...process.env, REQUIRE_AUDIT: '', ...env } });
    assert.equal(run(report({ high: 1 })).status, 1);
    assert.equal(run(report({ low: 1 })).status, 0);
    const skipped = run(UNREACHABLE);
    assert.equal(skipped.status, 0);
    assert.match(skipped.stderr, /SKIPPED/);
    assert.equal(run(UNREACHABLE, { REQUIRE_AUDIT: '1' }).status, 1);
  });
});
