/** harness/processes.ts on real processes: lines and logs read, exits seen, stops with and without grace, process groups, run(). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { run, start } from '../../harness/processes.ts';

const node = (code: string, group = false) => start(process.execPath, ['-e', code], { name: 'child', group });
/** Running, not a zombie (a pid 1 that does not reap would leave the killed grandchild as one). */
const alive = (pid: number): boolean => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

test('stdout lines: JSON parsed into logs, other lines kept as messages; waited on by their first word; all read before exited', async () => {
  const child = node(`console.log(JSON.stringify({ msg: 'hello', level: 30 })); console.log('ready now'); console.error('oops');
    setTimeout(() => { console.log('result {"n":1}'); console.log('result {"n":2}'); process.exit(3); }, 50);`);
  assert.equal(await child.nextLine('ready', 5000), 'now');
  assert.equal(await child.nextLine('result', 5000), '{"n":1}');
  const status = await child.exited;
  assert.deepEqual(status, { code: 3, signal: null });
  assert.equal(child.running, false);
  assert.equal(child.lastLine('result'), '{"n":2}');
  assert.deepEqual(child.log('hello'), { msg: 'hello', level: 30 });
  assert.deepEqual(child.log('ready now'), { msg: 'ready now', level: 0 });
  assert.equal(child.stderr, 'oops\n');
  assert.match(child.describe(), /^child exit code 3:/);
  await assert.rejects(child.nextLine('never', 1000), /exited before 'never'/);
});

test('stop: SIGTERM and the exit it leads to; SIGKILL for a process that ignores it, once the grace is over; at once without grace', async () => {
  const polite = node(`process.on('SIGTERM', () => process.exit(7)); console.log('up'); setInterval(() => {}, 1000);`);
  await polite.nextLine('up', 5000);
  assert.deepEqual(await polite.stop(2000), { code: 7, signal: null });
  const stubborn = node(`process.on('SIGTERM', () => {}); console.log('up'); setInterval(() => {}, 1000);`);
  await stubborn.nextLine('up', 5000);
  const started = performance.now();
  assert.deepEqual(await stubborn.stop(300), { code: null, signal: 'SIGKILL' });
  assert.ok(performance.now() - started >= 250, 'the grace was given');
  const killed = node(`process.on('SIGTERM', () => process.exit(0)); console.log('up'); setInterval(() => {}, 1000);`);
  await killed.nextLine('up', 5000);
  assert.deepEqual(await killed.stop(), { code: null, signal: 'SIGKILL' });
});

test('a process group: stopping the leader also ends what it started', async () => {
  const leader = node(`const c = require('node:child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    console.log('child ' + c.pid); setInterval(() => {}, 1000);`, true);
  const grandchild = Number(await leader.nextLine('child', 5000));
  assert.ok(alive(grandchild));
  await leader.stop(1000);
  for (let i = 0; i < 50 && alive(grandchild); i++) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(alive(grandchild), false, 'the grandchild is gone with its group');
});

test('run: output and code; a failure rejects unless allowed; past the timeout the command is killed', async () => {
  assert.deepEqual(await run(process.execPath, ['-e', 'console.log("out"); console.error("err")']), { code: 0, stdout: 'out\n', stderr: 'err\n' });
  await assert.rejects(run(process.execPath, ['-e', 'console.error("bad"); process.exit(2)']), /exited with 2:\nbad/);
  assert.equal((await run(process.execPath, ['-e', 'process.exit(2)'], { allowFailure: true })).code, 2);
  const started = performance.now();
  assert.equal((await run(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { allowFailure: true, timeoutMs: 200 })).code, null);
  assert.ok(performance.now() - started < 5000);
  await assert.rejects(run('/nonexistent/command', []), /ENOENT/);
});
