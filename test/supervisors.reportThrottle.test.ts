import { describe, expect, it } from 'vitest';
import { ReportThrottle } from '../supervisors/ReportThrottle.ts';

describe('ReportThrottle', () => {
  it('lets one report a period through per source and says how many it held back meanwhile', () => {
    const throttle = new ReportThrottle({ everyMs: 1000 });
    expect(throttle.admit('a', 0)).toEqual({ held: 0 });
    expect(throttle.admit('a', 10)).toBeUndefined();
    expect(throttle.admit('a', 999)).toBeUndefined();
    expect(throttle.admit('b', 999)).toEqual({ held: 0 });
    expect(throttle.admit('a', 1000)).toEqual({ held: 2 });
  });

  it('caps all sources together, still counting what it holds back of a known source', () => {
    const throttle = new ReportThrottle({ everyMs: 1000, maxPerPeriod: 2 });
    expect(throttle.admit('a', 0)).toEqual({ held: 0 });
    expect(throttle.admit('b', 0)).toEqual({ held: 0 });
    expect(throttle.admit('c', 0)).toBeUndefined();
    expect(throttle.admit('a', 1500)).toEqual({ held: 0 });
    expect(throttle.admit('b', 1500)).toEqual({ held: 0 });
    expect(throttle.admit('a', 2600)).toEqual({ held: 0 });
    expect(throttle.admit('b', 2600)).toEqual({ held: 0 });
    expect(throttle.admit('a', 2700)).toBeUndefined();
    expect(throttle.admit('c', 2700)).toBeUndefined();
    expect(throttle.admit('a', 3700)).toEqual({ held: 1 });
  });

  it('forgets the sources it heard from longest ago beyond its limit', () => {
    const throttle = new ReportThrottle({ everyMs: 1000, maxPerPeriod: 10, maxSources: 2 });
    throttle.admit('a', 0);
    throttle.admit('b', 0);
    throttle.admit('c', 0);
    // 'a' was forgotten, so it is new again
    expect(throttle.admit('a', 1)).toEqual({ held: 0 });
    expect(throttle.admit('c', 1)).toBeUndefined();
  });
});
