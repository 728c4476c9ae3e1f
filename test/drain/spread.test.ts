import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CloseSpread, CloseWindow, LONG_LIVED, type LongLived } from '../../src/drain/spread.ts';
import { busiestWindow } from '../../rollout/rates.ts';

/** mulberry32: a seeded generator, so the comparisons are the same in every run. */
function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

describe('CloseSpread', () => {
  it('starts at a random point and stays inside the window', () => {
    const spread = new CloseSpread(() => 0.25);
    assert.equal(spread.nextFraction(), 0.25);
    for (let i = 0; i < 10_000; i++) {
      const fraction = spread.nextFraction();
      assert.ok(fraction >= 0 && fraction < 1, `fraction ${fraction}`);
    }
  });

  it('spaces any number of streams evenly: the busiest fifth of the window holds at most 1.2x its share', () => {
    for (const start of [0, 0.1, 0.5, 0.999]) {
      for (const n of [5, 20, 50, 100, 101, 250, 1000, 9872]) {
        const spread = new CloseSpread(() => start);
        const moments = Array.from({ length: n }, () => spread.nextFraction());
        const share = n / 5;
        const busiest = busiestWindow(moments, 0.2);
        assert.ok(busiest <= Math.max(share * 1.2, share + 1), `n=${n} start=${start}: ${busiest} in the busiest fifth (share ${share})`);
      }
    }
  });

  it('is evenly spaced where independent draws clump (the property the spread exists for)', () => {
    // 100 independent uniform draws: the busiest fifth (sliding) holds about 28, not 20.
    const seeded = mulberry32(42);
    const independent = Array.from({ length: 100 }, seeded);
    assert.ok(busiestWindow(independent, 0.2) > 24, 'the comparison itself: independent draws clump');
    const spread = new CloseSpread(seeded);
    const spaced = Array.from({ length: 100 }, () => spread.nextFraction());
    assert.ok(busiestWindow(spaced, 0.2) <= 21);
  });
});

describe('CloseWindow', () => {
  it('hands out moments from t0 + DRAIN_DELAY over CLOSE_SPREAD, and waits from now', () => {
    let elapsed: number | undefined = 0;
    const window = new CloseWindow({ delayMs: 3000, spreadMs: 5000 }, () => elapsed, () => 0.5);
    for (const kind of LONG_LIVED) {
      assert.equal(window.nextMomentMs(kind), 5500, `${kind}: its own sequence, from its own start`);
      const moment = window.nextMomentMs(kind);
      assert.ok(moment >= 3000 && moment < 8000, `${kind}: ${moment}`);
    }
    elapsed = 4000;
    assert.equal(window.nextWaitMs('h2'), 3000 + ((0.5 + 2 * ((Math.sqrt(5) - 1) / 2)) % 1) * 5000 - 4000);
    elapsed = 9000;
    assert.equal(window.nextWaitMs('websocket'), 0, 'a moment already past: at once');
  });

  it('spaces each kind evenly and all of them together, whatever order they ask in', () => {
    const random = mulberry32(7);
    for (const counts of [[50, 45, 10], [100, 100, 100], [150, 20, 0], [8, 8, 8]]) {
      for (let trial = 0; trial < 20; trial++) {
        const window = new CloseWindow({ delayMs: 0, spreadMs: 5 }, () => 0, random);
        const order = counts.flatMap((n, k) => Array.from({ length: n }, () => LONG_LIVED[k]));
        for (let i = order.length - 1; i > 0; i--) {
          const j = Math.floor(random() * (i + 1));
          [order[i], order[j]] = [order[j], order[i]];
        }
        const moments = new Map<LongLived, number[]>(LONG_LIVED.map((kind) => [kind, []]));
        for (const kind of order) moments.get(kind)!.push(window.nextMomentMs(kind));
        const label = `${counts.join('/')} trial ${trial}`;
        for (const [kind, own] of moments) {
          const share = own.length / 5;
          assert.ok(busiestWindow(own, 1) <= Math.max(share * 1.2, share + 1), `${label}: ${kind} ${busiestWindow(own, 1)} in the busiest second (share ${share})`);
        }
        const all = [...moments.values()].flat();
        const share = all.length / 5;
        assert.ok(busiestWindow(all, 1) <= Math.max(share * 1.2, share + 2), `${label}: all kinds ${busiestWindow(all, 1)} in the busiest second (share ${share})`);
      }
    }
  });

  it('(why a sequence per kind) a random subset of one shared sequence clumps like independent draws', () => {
    const random = mulberry32(11);
    let clumped = 0;
    for (let trial = 0; trial < 100; trial++) {
      const shared = new CloseSpread(random);
      const webSockets: number[] = [];
      for (let i = 0; i < 95; i++) {
        const moment = shared.nextFraction() * 5;
        if (random() < 50 / 95) webSockets.push(moment);
      }
      if (busiestWindow(webSockets, 1) > (webSockets.length / 5) * 1.2) clumped++;
    }
    assert.ok(clumped > 70, `the WebSockets among 95 connections asking in random order: more than 1.2x their share in the busiest second in ${clumped} of 100 trials`);
  });
});
