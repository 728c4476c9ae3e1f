/** harness/proc.ts: the /proc parsers on exact text, and the readers on this process and a child it starts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  clockTicksPerSecond, openFds, parseCpuList, parseMachineCpu, parseStat, parseStatus, processTree, treeCpuSeconds, treeMemory,
} from '../../harness/proc.ts';

test('stat: fields counted after the last ")", so a command name with spaces and parentheses does not shift them', () => {
  const fields = ['S', '41', ...Array.from({ length: 9 }, () => '0'), '7', '5', '3', '2', '20', '0'];
  const stat = parseStat(42, `42 (node (worker) 1) ${fields.join(' ')} 1 0 12345`);
  assert.deepEqual(stat, { pid: 42, ppid: 41, ticks: 7 + 5 + 3 + 2 });
});

test('status: VmRSS, RssAnon, RssFile and VmHWM in bytes; absent lines (a zombie) are 0', () => {
  const text = 'Name:\tnode\nVmPeak:\t 999 kB\nVmHWM:\t   50000 kB\nVmRSS:\t   43008 kB\nRssAnon:\t    8192 kB\nRssFile:\t   34816 kB\nRssShmem:\t 0 kB\n';
  assert.deepEqual(parseStatus(text), { rssBytes: 43008 * 1024, anonBytes: 8192 * 1024, fileBytes: 34816 * 1024, peakBytes: 50000 * 1024 });
  assert.deepEqual(parseStatus('Name:\tzombie\nState:\tZ (zombie)\n'), { rssBytes: 0, anonBytes: 0, fileBytes: 0, peakBytes: 0 });
});

test('machine CPU: busy is user + nice + system + irq + softirq, steal apart; idle and iowait are not busy', () => {
  const cpu = parseMachineCpu(`cpu  100 20 30 5000 400 6 7 8 0 0\ncpu0 50 10 15 2500 200 3 3 4 0 0\n`);
  assert.equal(cpu.busySeconds, (100 + 20 + 30 + 6 + 7) / clockTicksPerSecond);
  assert.equal(cpu.stealSeconds, 8 / clockTicksPerSecond);
  assert.throws(() => parseMachineCpu('intr 1 2 3\n'), /no cpu line/);
});

test('CPU lists: single CPUs and ranges, in order', () => {
  assert.deepEqual(parseCpuList('0-1,4'), [0, 1, 4]);
  assert.deepEqual(parseCpuList('3'), [3]);
  assert.deepEqual(parseCpuList('0-2,6-7'), [0, 1, 2, 6, 7]);
  assert.deepEqual(parseCpuList(''), []);
});

test('a process tree: descendants found from the parents, a gone root is empty', () => {
  const stats = [
    { pid: 1, ppid: 0, ticks: 1 }, { pid: 10, ppid: 1, ticks: 1 }, { pid: 11, ppid: 10, ticks: 1 },
    { pid: 12, ppid: 10, ticks: 1 }, { pid: 13, ppid: 11, ticks: 1 }, { pid: 20, ppid: 1, ticks: 1 },
  ];
  assert.deepEqual(processTree(10, stats).map((stat) => stat.pid).sort(), [10, 11, 12, 13]);
  assert.deepEqual(processTree(99, stats), []);
});

test('the readers on live processes: a child counts in its parent tree, its memory and descriptors are read', async () => {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10_000)'], { stdio: 'ignore' });
  await once(child, 'spawn');
  try {
    assert.ok(processTree(process.pid).some((stat) => stat.pid === child.pid), 'the child is in this process tree');
    const memory = treeMemory(child.pid!);
    assert.ok(memory.rssBytes > 0 && memory.anonBytes > 0 && memory.fileBytes > 0, JSON.stringify(memory));
    assert.ok(Math.abs(memory.rssBytes - memory.anonBytes - memory.fileBytes) <= memory.rssBytes * 0.1, 'VmRSS is about RssAnon + RssFile');
    assert.ok(openFds(child.pid!) >= 3, 'stdio at least');
    assert.ok(treeCpuSeconds(process.pid) > 0);
  } finally {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
  assert.throws(() => treeMemory(child.pid!), /is gone/);
});
