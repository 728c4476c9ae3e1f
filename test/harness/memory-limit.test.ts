import assert from 'node:assert/strict';
import { test } from 'node:test';
import { memoryLimit } from '../../harness/memory-limit.ts';
import { run, start } from '../../harness/processes.ts';

const LIMIT = 256 * 2 ** 20;

test('a process started through the wrap sees the limit and keeps its pid, and Node sizes its heap from it', async (t) => {
  const limit = memoryLimit(LIMIT);
  if (limit === undefined) {
    t.skip('no writable memory cgroup on this machine');
    return;
  }
  try {
    const script = 'const v8 = require("node:v8"); console.log(JSON.stringify({ ppid: process.ppid, '
      + 'constrained: process.constrainedMemory(), heapLimit: v8.getHeapStatistics().heap_size_limit }))';
    const { stdout } = await run(limit.wrap[0], [...limit.wrap.slice(1), process.execPath, '-e', script]);
    const seen = JSON.parse(stdout) as { ppid: number; constrained: number; heapLimit: number };
    assert.equal(seen.constrained, LIMIT);
    assert.equal(seen.ppid, process.pid, 'the shell execs node: node is the direct child');
    // Without a limit V8 sizes the heap from the machine's memory: gigabytes, not this limit's few hundred MiB.
    assert.ok(seen.heapLimit < 2 * LIMIT, `heap limit ${seen.heapLimit}`);
  } finally {
    limit.remove();
  }
});

test('remove() takes the cgroup away once, and is refused while a process is in it', async (t) => {
  const first = memoryLimit(LIMIT);
  if (first === undefined) {
    t.skip('no writable memory cgroup on this machine');
    return;
  }
  const child = start(first.wrap[0], [...first.wrap.slice(1), process.execPath, '-e', 'setInterval(() => {}, 1000); console.log("listening")'], { name: 'in the cgroup' });
  await child.nextLine('listening', 5000);
  assert.equal(first.remove(), false, 'a cgroup with a process in it stays');
  await child.stop();
  assert.equal(first.remove(), true);
  assert.equal(first.remove(), false, 'already gone');
});
