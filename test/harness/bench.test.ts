/** harness/bench.ts and harness/tables.ts: medians, ratios taken round by round, rotating rounds, summaries and tables. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { median, medianOf, pairedRatios, perRoundTable, reportMedians, rotatingRounds, summarize, type BenchRun } from '../../harness/bench.ts';
import { consoleTable, countBy, fixed, markdownTable, tally } from '../../harness/tables.ts';

const UNITS = { rate: 'req/s', latency: 'p99', operation: 'req' };

function run(target: string, round: number, proxyCpuUs: number | undefined, perSecond = 1000): BenchRun {
  return { target, round, operations: perSecond * 10, perSecond, latencyMs: round, errors: 0, proxyCpuUs, appCpuUs: 5, otherCpuPercent: 1, stealPercent: 0 };
}

test('median: odd and even counts, unsorted input left as it was; none is NaN, or undefined through medianOf', () => {
  const values = [5, 1, 3];
  assert.equal(median(values), 3);
  assert.deepEqual(values, [5, 1, 3]);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
  assert.equal(medianOf([]), undefined);
});

test('paired ratios: each run over the reference run of the same round; missing rounds, missing values and zeros are left out', () => {
  const drain = [run('drain-proxy', 1, 20), run('drain-proxy', 2, 30), run('drain-proxy', 3, 40), run('drain-proxy', 4, undefined)];
  const nginx = [run('nginx', 2, 10), run('nginx', 1, 10), run('nginx', 4, 10), run('nginx', 3, 0)];
  assert.deepEqual(pairedRatios(drain, nginx, (r) => r.proxyCpuUs), [2, 3]);
  // The median of per-round ratios is not the ratio of medians: a slow round weighs on both targets of that round only.
  const a = [run('a', 1, 10), run('a', 2, 30), run('a', 3, 31)];
  const b = [run('b', 1, 5), run('b', 2, 31), run('b', 3, 30)];
  assert.equal(median(pairedRatios(a, b, (r) => r.proxyCpuUs)), 31 / 30);
  assert.equal(median(a.map((r) => r.proxyCpuUs!)) / median(b.map((r) => r.proxyCpuUs!)), 1);
});

test('rotating rounds: every target once per round, the order rotated by one each round', async () => {
  const order: string[] = [];
  const targets = ['a', 'b', 'c'].map((name) => ({ name, proxyPid: undefined }));
  const log = console.log;
  console.log = () => {};
  try {
    await rotatingRounds(targets, 4, UNITS, async (target, round) => {
      order.push(`${round}${target.name}`);
      return run(target.name, round, undefined);
    });
  } finally {
    console.log = log;
  }
  assert.deepEqual(order, ['1a', '1b', '1c', '2b', '2c', '2a', '3c', '3a', '3b', '4a', '4b', '4c']);
});

test('summaries: medians per target in the targets order, proxy CPU undefined for direct, errors summed', () => {
  const runs = [run('nginx', 1, 10, 900), run('direct', 1, undefined, 2000), run('nginx', 2, 12, 1100), run('direct', 2, undefined, 1800),
    { ...run('nginx', 3, 11, 1000), errors: 2 }];
  const [direct, nginx] = summarize([{ name: 'direct', proxyPid: undefined }, { name: 'nginx', proxyPid: 1 }], runs);
  assert.equal(direct.target, 'direct');
  assert.equal(direct.perSecond, 1900);
  assert.equal(direct.proxyCpuUs, undefined);
  assert.equal(nginx.proxyCpuUs, 11);
  assert.equal(nginx.latencyMs, 2);
  assert.equal(nginx.errors, 2);
  assert.equal(nginx.runs.length, 3);
});

test('the per-round table: one column per round, n/a for a missing run, the charged CPU (the app for direct) and the load', () => {
  const summaries = summarize([{ name: 'direct', proxyPid: undefined }, { name: 'nginx', proxyPid: 1 }],
    [run('direct', 1, undefined, 2000), run('nginx', 1, 10, 900), run('nginx', 2, 12, 950)]);
  const table = perRoundTable(summaries, 2, UNITS, 2, ' req/s');
  assert.match(table, /^Per round: req\/s; CPU µs per request of the proxy/);
  assert.match(table, /shares of all 2 CPUs:/);
  assert.match(table, /\| direct \| 2000 req\/s, 5\.0 µs \(other 1%, steal 0%\) \| n\/a \|/);
  assert.match(table, /\| nginx \| 900 req\/s, 10\.0 µs \(other 1%, steal 0%\) \| 950 req\/s, 12\.0 µs \(other 1%, steal 0%\) \|/);
  assert.match(perRoundTable(summaries, 2, { rate: 'round trips/s', latency: 'p99', operation: 'round trip' }, 2), /^Per round: round trips per second; CPU µs per round trip/);
});

test('tables: the first column a label, the rest right-aligned, in the console and in markdown', () => {
  const rows = [['direct', '1', 'n/a'], ['drain-proxy', '12345', '1.5']];
  assert.equal(consoleTable(['target', 'req/s', 'x'], rows), 'target       req/s    x\ndirect           1  n/a\ndrain-proxy  12345  1.5');
  assert.equal(markdownTable(['target', 'req/s', 'x'], rows), '| target | req/s | x |\n| --- | ---: | ---: |\n| direct | 1 | n/a |\n| drain-proxy | 12345 | 1.5 |');
  assert.equal(fixed(undefined, 1), 'n/a');
  assert.equal(fixed(Number.NaN, 1), 'n/a');
  assert.equal(fixed(1.25, 1), '1.3');
});

test('a section record\'s tail: the table, one verdict in bold or several as a bold list, then the per-round table', () => {
  const summaries = summarize([{ name: 'nginx', proxyPid: 1 }], [run('nginx', 1, 10, 900)]);
  const header = ['target', 'req/s'];
  const rows = [['nginx', '900']];
  const one = reportMedians('T', { rounds: 1, cpus: 2 }, UNITS, summaries, header, rows, ['MET: fine.']);
  assert.ok(one.startsWith(`${markdownTable(header, rows)}\n\n**MET: fine.**\n\nPer round: req/s;`), one);
  assert.ok(one.endsWith('|\n'));
  const two = reportMedians('T', { rounds: 1, cpus: 2 }, UNITS, summaries, header, rows, ['MET: a', 'MISSED: b']);
  assert.match(two, /\n\n- \*\*MET: a\*\*\n- \*\*MISSED: b\*\*\n\n/);
});

test('tallies: counts in the order first seen, with the separator asked for; nothing is an empty string', () => {
  const codes = [1012, 1006, 1012];
  assert.deepEqual([...countBy(codes, String)], [['1012', 2], ['1006', 1]]);
  assert.equal(tally(codes, String), '1012 x2, 1006 x1');
  assert.equal(tally(codes, String, ': '), '1012: 2, 1006: 1');
  assert.equal(tally([], String), '');
});
