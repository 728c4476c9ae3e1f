/**
 * CI's gate on `npm audit --omit=dev --json` (read from stdin): production
 * dependencies, what the image ships, must carry no high or critical advisory.
 *
 * npm audit exits non-zero both for findings and when the registry's audit
 * endpoint cannot be reached (a mirror that serves GET only answers 405), so
 * the report itself tells the two apart: findings fail; an unreachable
 * endpoint is reported loudly and passes, unless REQUIRE_AUDIT=1 (set it on
 * runners that reach registry.npmjs.org). Prints one line; exits 0 or 1.
 */
import { readFileSync } from 'node:fs';

export interface AuditVerdict {
  readonly exitCode: 0 | 1;
  readonly line: string;
}

interface AuditReport {
  metadata?: { vulnerabilities?: Record<string, number> };
  message?: string;
  statusCode?: number;
}

export function auditVerdict(reportText: string, requireAudit: boolean): AuditVerdict {
  let report: AuditReport = {};
  try {
    report = JSON.parse(reportText) as AuditReport;
  } catch {
    // Not JSON: npm could not produce a report at all; treated as unreachable below.
  }
  const counts = report.metadata?.vulnerabilities;
  if (counts !== undefined) {
    const high = counts.high ?? 0;
    const critical = counts.critical ?? 0;
    if (high + critical > 0) {
      return { exitCode: 1, line: `npm audit: ${critical} critical and ${high} high advisories in production dependencies (run npm audit --omit=dev)` };
    }
    return { exitCode: 0, line: `npm audit: no high or critical advisory in production dependencies (${counts.total ?? 0} lower)` };
  }
  const why = report.message ?? 'no report';
  if (requireAudit) return { exitCode: 1, line: `npm audit FAILED: the audit endpoint is unreachable: ${why} (REQUIRE_AUDIT=1)` };
  return {
    exitCode: 0,
    line: `WARNING: npm audit SKIPPED: the audit endpoint is unreachable: ${why}; production dependencies were NOT checked for advisories (REQUIRE_AUDIT=1 makes this fatal)`,
  };
}

if (import.meta.main) {
  const verdict = auditVerdict(readFileSync(0, 'utf8'), process.env.REQUIRE_AUDIT === '1');
  (verdict.exitCode === 0 && !verdict.line.startsWith('WARNING') ? console.log : console.error)(verdict.line);
  process.exitCode = verdict.exitCode;
}
