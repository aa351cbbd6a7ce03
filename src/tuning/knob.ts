/**
 * Knob values and steps: which value a tuning experiment tries next. A knob has a type, bounds
 * and a step rule:
 *
 *   step: "+2"            add (or, going down, subtract) 2
 *   step: "*1.5"          multiply (or divide) by 1.5, rounded for integer knobs
 *   values: [4, 8, 16]    walk an explicit list (also the only way for enum knobs)
 *
 * Pure functions; reading and writing a knob is the action layer's job.
 */

export type KnobType = 'integer' | 'number' | 'enum';

export interface KnobSpec {
  name: string;
  type: KnobType;
  min?: number;
  max?: number;
  /** "+n" or "*f"; numeric knobs without `values`. */
  step?: string;
  /** Allowed values in order; required for enum knobs. */
  values?: ReadonlyArray<number | string>;
}

export type KnobValue = number | string;

export class KnobError extends Error {}

interface ParsedStep {
  kind: 'add' | 'mul';
  by: number;
}

export function parseStep(step: string): ParsedStep {
  const m = /^\s*([+*])\s*(\d+(?:\.\d+)?)\s*$/.exec(step);
  if (!m) throw new KnobError(`step "${step}": use "+n" (add n) or "*f" (multiply by f)`);
  const by = Number(m[2]);
  if (m[1] === '+' && by <= 0) throw new KnobError(`step "${step}": n must be above 0`);
  if (m[1] === '*' && by <= 1) throw new KnobError(`step "${step}": f must be above 1`);
  return { kind: m[1] === '+' ? 'add' : 'mul', by };
}

/** Problems with a knob's definition, as messages naming the field; empty when it is valid. */
export function checkKnob(k: KnobSpec): string[] {
  const p: string[] = [];
  if (k.type === 'enum' && !k.values?.length) p.push('values: an enum knob needs its list of values');
  if (k.type !== 'enum' && !k.values && !k.step) p.push('step: a numeric knob needs a step ("+n", "*f") or a list of values');
  if (k.step) {
    try {
      parseStep(k.step);
    } catch (err) {
      p.push((err as Error).message);
    }
  }
  if (k.min !== undefined && k.max !== undefined && k.min > k.max) p.push(`min ${k.min} is above max ${k.max}`);
  if (k.values && new Set(k.values).size !== k.values.length) p.push('values: must not repeat');
  return p;
}

/** Whether a value is allowed for the knob (type, bounds, list). */
export function allowed(k: KnobSpec, v: KnobValue): boolean {
  if (k.values) return k.values.includes(v);
  if (typeof v !== 'number' || !Number.isFinite(v)) return false;
  if (k.type === 'integer' && !Number.isInteger(v)) return false;
  if (k.min !== undefined && v < k.min) return false;
  if (k.max !== undefined && v > k.max) return false;
  return true;
}

/**
 * The next value from `current` in `direction`, within bounds, skipping values in `avoid`
 * (rejected recently); null when there is none (at a bound, or every value ahead is avoided).
 */
export function nextValue(k: KnobSpec, current: KnobValue, direction: 'up' | 'down', avoid: ReadonlySet<KnobValue> = new Set()): KnobValue | null {
  if (k.values) {
    const i = k.values.indexOf(current);
    const d = direction === 'up' ? 1 : -1;
    // From a value not in the list, start at the nearest end in the direction of travel.
    for (let j = i < 0 ? (d > 0 ? 0 : k.values.length - 1) : i + d; j >= 0 && j < k.values.length; j += d) {
      const v = k.values[j] as KnobValue;
      if (!avoid.has(v)) return v;
    }
    return null;
  }
  if (typeof current !== 'number') throw new KnobError(`${k.name}: current value ${JSON.stringify(current)} is not a number`);
  const s = parseStep(k.step as string);
  let v = current;
  for (let tries = 0; tries < 1000; tries++) {
    const raw = s.kind === 'add' ? (direction === 'up' ? v + s.by : v - s.by) : direction === 'up' ? v * s.by : v / s.by;
    let next = k.type === 'integer' ? (direction === 'up' ? Math.max(Math.round(raw), v + 1) : Math.min(Math.round(raw), v - 1)) : raw;
    if (k.max !== undefined && next > k.max) next = k.max;
    if (k.min !== undefined && next < k.min) next = k.min;
    if (next === v) return null; // pinned at a bound
    if (!avoid.has(next)) return next;
    v = next;
  }
  return null;
}
