/** Building blocks: the Wilson interval against published values, the seeded generator and its draws, signatures. */
import { describe, expect, it } from 'vitest';
import { beta, createRng, gamma, normal, signatureOf, wilsonInterval } from '../../src/learning/index.js';

describe('Wilson score interval (95 %)', () => {
  // Newcombe, "Two-sided confidence intervals for the single proportion", Stat. Med. 1998, table I, method 3.
  it.each([
    [81, 263, 0.2553, 0.3662],
    [15, 148, 0.0624, 0.1605],
    [0, 20, 0, 0.1611],
    [1, 29, 0.0061, 0.1718],
    [14, 15, 0.7018, 0.9881],
  ])('%i/%i: %f to %f', (s, n, lo, hi) => {
    const [l, h] = wilsonInterval(s, n) as [number, number];
    expect(l).toBeCloseTo(lo, 4);
    expect(h).toBeCloseTo(hi, 4);
  });

  it('is symmetric, stays within [0, 1], takes fractional counts, and has no value without trials', () => {
    const [a, b] = wilsonInterval(3, 10) as [number, number];
    const [c, d] = wilsonInterval(7, 10) as [number, number];
    expect(a).toBeCloseTo(1 - d, 12);
    expect(b).toBeCloseTo(1 - c, 12);
    expect(wilsonInterval(10, 10)?.[1]).toBe(1);
    expect(wilsonInterval(0, 10)?.[0]).toBe(0);
    const [fl, fh] = wilsonInterval(2.5, 3.7) as [number, number];
    expect(fl).toBeGreaterThan(0);
    expect(fl).toBeLessThan(2.5 / 3.7);
    expect(fh).toBeGreaterThan(2.5 / 3.7);
    expect(fh).toBeLessThan(1);
    expect(wilsonInterval(0, 0)).toBeNull();
  });
});

describe('seeded generator', () => {
  it('repeats under a seed and differs between seeds', () => {
    const seq = (s: number) => Array.from({ length: 8 }, ((r) => () => r.next())(createRng(s)));
    expect(seq(42)).toEqual(seq(42));
    expect(seq(42)).not.toEqual(seq(43));
    expect(seq(0)).not.toEqual(seq(1));
    expect(seq(2 ** 40)).not.toEqual(seq(0));
    expect(seq(-5)).not.toEqual(seq(5));
    expect(() => createRng(Number.NaN)).toThrow(RangeError);
  });

  it('is uniform on [0, 1): 10 equal bins of 100 000 draws', () => {
    const r = createRng(1);
    const bins = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) {
      const x = r.next();
      expect(x >= 0 && x < 1).toBe(true);
      bins[Math.floor(x * 10)]! += 1;
    }
    // Chi-square with 9 degrees of freedom: 27.9 is its 0.999 quantile.
    const chi2 = bins.reduce((sum, b) => sum + (b - 10_000) ** 2 / 10_000, 0);
    expect(chi2).toBeLessThan(27.9);
  });

  it('draws normal, Gamma and Beta variates with the right mean and variance', () => {
    const r = createRng(2);
    const moments = (draw: () => number, n = 100_000) => {
      let m = 0;
      let m2 = 0;
      for (let i = 0; i < n; i++) {
        const x = draw();
        m += x;
        m2 += x * x;
      }
      m /= n;
      return [m, m2 / n - m * m] as const;
    };
    const [nm, nv] = moments(() => normal(r));
    expect(nm).toBeCloseTo(0, 1);
    expect(nv).toBeCloseTo(1, 1);
    for (const k of [0.4, 1, 3.5, 40]) {
      const [gm, gv] = moments(() => gamma(r, k));
      expect(Math.abs(gm - k) / k).toBeLessThan(0.03);
      expect(Math.abs(gv - k) / k).toBeLessThan(0.06);
    }
    for (const [a, b] of [
      [1, 1],
      [2, 5],
      [15, 2],
      [0.5, 0.5],
    ] as const) {
      const [bm, bv] = moments(() => beta(r, a, b));
      expect(bm).toBeCloseTo(a / (a + b), 2);
      expect(bv).toBeCloseTo((a * b) / ((a + b) ** 2 * (a + b + 1)), 3);
    }
  });
});

describe('signatures', () => {
  it('are alertname plus the target labels by name', () => {
    const labels = { alertname: 'HighErrorRate', service: 'checkout', namespace: 'shop', pod: 'checkout-7d9f', instance: '10.0.0.7:8080' };
    expect(signatureOf(labels, ['service'])).toBe('alertname=HighErrorRate,service=checkout');
    expect(signatureOf(labels, ['service', 'namespace', 'alertname', 'service'])).toBe('alertname=HighErrorRate,namespace=shop,service=checkout');
    expect(signatureOf(labels, null)).toBe('alertname=HighErrorRate');
    expect(signatureOf(labels, [])).toBe('alertname=HighErrorRate');
  });

  it('leave missing and empty labels out', () => {
    expect(signatureOf({ alertname: 'X', service: '' }, ['service', 'zone'])).toBe('alertname=X');
  });

  it('escape the characters that structure them, so different values never share one', () => {
    expect(signatureOf({ alertname: 'X', service: 'a,b=c\\d\ne' }, ['service'])).toBe('alertname=X,service=a\\,b\\=c\\\\d\\ne');
    const a = signatureOf({ alertname: 'X', a: '1,b=2' }, ['a', 'b']);
    const b = signatureOf({ alertname: 'X', a: '1', b: '2' }, ['a', 'b']);
    expect(a).not.toBe(b);
  });
});
