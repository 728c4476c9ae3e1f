import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CloseSpread } from '../../src/drain/spread.ts';
import { busiestWindow } from '../../rollout/rates.ts';

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
    let seed = 42;
    const seeded = (): number => {
      // mulberry32: a seeded generator, so the comparison is the same in every run.
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
    };
    const independent = Array.from({ length: 100 }, seeded);
    assert.ok(busiestWindow(independent, 0.2) > 24, 'the comparison itself: independent draws clump');
    const spread = new CloseSpread(seeded);
    const spaced = Array.from({ length: 100 }, () => spread.nextFraction());
    assert.ok(busiestWindow(spaced, 0.2) <= 21);
  });
});
