/**
 * A seeded pseudo-random generator and the draws Thompson sampling needs. xoshiro128** (period
 * 2^128 - 1, passes BigCrush) seeded through splitmix32, so any seed, 0 included, gives a good
 * state. Gamma by Marsaglia and Tsang (2000), Beta as X / (X + Y) of two Gamma draws. Same
 * seed, same calls: same numbers, on every platform (32-bit integer arithmetic only).
 */

export interface Rng {
  /** Uniform in [0, 1), 32 bits of resolution. */
  next(): number;
}

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = Math.imul(s ^ (s >>> 16), 0x21f0aaad);
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
    return (z ^ (z >>> 15)) >>> 0;
  };
}

/** A generator from a seed: any finite number (its integer part, up to 2^53). */
export function createRng(seed: number): Rng {
  if (!Number.isFinite(seed)) throw new RangeError(`rng seed must be a finite number (got ${seed})`);
  const whole = Math.trunc(Math.abs(seed));
  const mix = splitmix32((whole % 0x1_0000_0000) ^ Math.imul(Math.floor(whole / 0x1_0000_0000), 0x27d4eb2f) ^ (seed < 0 ? 0x5bd1e995 : 0));
  let a = mix();
  let b = mix();
  let c = mix();
  let d = mix();
  return {
    next(): number {
      const r = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
      const t = b << 9;
      c ^= a;
      d ^= b;
      b ^= c;
      a ^= d;
      c ^= t;
      d = rotl(d, 11);
      return r / 0x1_0000_0000;
    },
  };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Standard normal, Marsaglia's polar method (one value per call; its twin is dropped to keep no state). */
export function normal(rng: Rng): number {
  for (;;) {
    const u = 2 * rng.next() - 1;
    const v = 2 * rng.next() - 1;
    const s = u * u + v * v;
    if (s > 0 && s < 1) return u * Math.sqrt((-2 * Math.log(s)) / s);
  }
}

/** Gamma(shape, 1), shape > 0: Marsaglia–Tsang, with the u^(1/shape) boost below 1. */
export function gamma(rng: Rng, shape: number): number {
  if (shape < 1) return gamma(rng, shape + 1) * (1 - rng.next()) ** (1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = normal(rng);
    let v = 1 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    const u = 1 - rng.next(); // (0, 1]: log(u) is finite
    const x2 = x * x;
    if (u < 1 - 0.0331 * x2 * x2) return d * v;
    if (Math.log(u) < 0.5 * x2 + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** Beta(a, b), a, b > 0. */
export function beta(rng: Rng, a: number, b: number): number {
  const x = gamma(rng, a);
  const y = gamma(rng, b);
  const sum = x + y;
  // Both can underflow to 0 only for tiny shapes; the mean is the honest answer then.
  return sum > 0 ? x / sum : a / (a + b);
}
