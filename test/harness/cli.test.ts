/** harness/cli.ts parseFlags through the entry points that use it, as real processes. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { run } from '../../harness/processes.ts';

const rollout = fileURLToPath(new URL('../../rollout/run.ts', import.meta.url));
const fuzz = fileURLToPath(new URL('../../scripts/fuzz.ts', import.meta.url));

test('an unknown flag: exit 2, the flag named on stderr with the usage, no stack trace', async () => {
  for (const script of [rollout, fuzz]) {
    const { code, stdout, stderr } = await run(process.execPath, [script, '--no-such-flag'], { allowFailure: true, timeoutMs: 20_000 });
    assert.equal(code, 2, script);
    assert.match(stderr, /^Unknown option '--no-such-flag'/);
    assert.match(stderr, /\nusage: npm run (rollout|fuzz)/);
    assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
    assert.equal(stdout, '');
  }
});

test('--help: the usage on stdout, exit 0', async () => {
  const { code, stdout } = await run(process.execPath, [rollout, '--help'], { timeoutMs: 20_000 });
  assert.equal(code, 0);
  assert.match(stdout, /^usage: npm run rollout \[-- --service userspace\|iptables .*--no-write/);
});
