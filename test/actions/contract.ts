/**
 * The contract every action type keeps (see src/actions/types.ts), as one shared suite in the
 * style of hono's runtime tests: an action file passes it with a few lines of cases.
 *
 *   actionContract('http', { valid: () => ({ args: { url: `${app.url}/ok` } }), failing: ..., slow: ..., hostile: ... });
 *
 * What it checks, for the action registered under `name` in ACTIONS:
 *  - check(): garbage (non-objects, empty and unknown keys) gives problems, each with a path and
 *    a message, and never throws; templates in literal fields are refused; the valid example has
 *    no problems.
 *  - render(): pure (same input -> deep-equal output, input and vars not mutated, output
 *    JSON-serialisable for the run history); hostile label values land only in their data slot:
 *    rendering with a hostile value gives the same "frame" as rendering with a harmless one, and
 *    the slots hold the value verbatim (decoded from their encoding).
 *  - run(): a valid example resolves with an ActionResult (output a string when present); a
 *    failing example rejects with an ActionError whose `retryable` is a boolean (and the expected
 *    one); actions that wait or do I/O reject promptly (< 2 s) on an aborted / aborting signal.
 *
 * `knownBugs` maps a test id (the test's title) to a description of a bug in src/: that test is
 * run with it.fails, so the suite stays green while the bug exists and turns red once it is fixed.
 */
import { describe, expect, it } from 'vitest';
import { ACTIONS, ActionError, type ActionResult, type ActionType, type Problem } from '../../src/actions/index.js';
import { TemplateError } from '../../src/rules/template.js';
import { SECRET_ENV, ctxWith, settleWithin, varsFor } from './parts.js';

/** Label values an attacker who can fire an alert (or set a label) controls. */
export const HOSTILE = {
  'command substitution': '$(touch /tmp/promedic-pwned)',
  backticks: '`touch /tmp/promedic-pwned`',
  'command separator': '; rm -rf / #',
  'option injection': '-oProxyCommand=touch /tmp/promedic-pwned',
  newlines: 'line1\nline2: injected\r\nX-Injected: 1',
  quotes: `it's "quoted" \\ and \\"escaped\\" '`,
  'path traversal': '/../../etc/passwd',
  'query and fragment': '?a=b&c=d#frag',
  'dot-dot segment': '..',
  'percent escapes': '%2e%2e%2F%0d%0a',
  'template syntax': '{{ env.PROMEDIC_TOKEN }}',
  'yaml and json syntax': '{"a": [1]}\n---\n- key: value # comment\n',
  unicode: 'ünï ☃ \u202e',
  empty: '',
} as const satisfies Readonly<Record<string, string>>;

/** The reference the hostile examples use for the attacker-controlled value. */
export const EVIL = '{{ labels.evil }}';
const HARMLESS = 'pLaCeHoLdEr';

const GARBAGE: unknown[] = [undefined, null, 0, 42, true, '', 'garbage', [], ['x'], {}, { nonsense: true }];

/** References check() must refuse wherever a template is allowed. */
const BAD_TEMPLATES = ['{{ secrets.token }}', '{{ alert.nope }}', '{{ labels.x }', '{{ labels.x | shell }}', '{{labels}}'];

export interface Example {
  /** Arguments as written in the playbook. */
  args: unknown;
  /** Extra alert labels for rendering. */
  labels?: Record<string, string>;
  prometheusUrl?: string | null;
  cleanup?: () => unknown;
}

export interface FailingExample extends Example {
  retryable: boolean;
}

type Thunk<T> = () => T | Promise<T>;

export interface ActionCases<E extends Example = Example> {
  /** A valid example that run() completes (built lazily: servers and files exist by then). */
  valid: Thunk<E>;
  /** Extra assertions on what the valid run did. */
  afterRun?: (res: ActionResult, ex: E) => unknown;
  /** An example whose run() fails, and whether that failure is retryable. */
  failing?: Thunk<FailingExample>;
  /** Wrongly shaped arguments and the path of the problem check() must report. */
  invalid?: Array<{ args: unknown; path: string[] }>;
  /** Arguments with a template in a field that must be literal (program, host, file, pid...). */
  literal?: unknown[];
  /** Arguments referencing EVIL in every data slot; slots() decodes them, frame() is everything else. */
  hostile?: {
    args: unknown;
    slots: (rendered: unknown) => string[];
    frame: (rendered: unknown) => unknown;
    /** HOSTILE entries that render() must refuse with a TemplateError instead of placing (e.g. ".." in a URL path). */
    refused?: string[];
  };
  /** An example whose run() waits or does I/O for a long time (for the abort tests). */
  slow?: Thunk<Example>;
  knownBugs?: Record<string, string>;
}

/** The action types the contract was declared for (contract.test.ts checks it is all of ACTIONS). */
export const contracted = new Set<string>();

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

export function expectProblems(problems: Problem[], what: string): void {
  expect(Array.isArray(problems), `${what}: check() returns a list`).toBe(true);
  expect(problems.length, `${what}: check() reports a problem`).toBeGreaterThan(0);
  for (const p of problems) {
    expect(Array.isArray(p.path), `${what}: problem has a path`).toBe(true);
    for (const seg of p.path) expect(typeof seg).toBe('string');
    expect(typeof p.message, `${what}: problem has a message`).toBe('string');
    expect(p.message.trim().length).toBeGreaterThan(0);
  }
}

/** Replaces every EVIL reference inside the JSON-like args by `tpl`. */
function withTemplate(args: unknown, tpl: string): unknown {
  if (typeof args === 'string') return args.split(EVIL).join(tpl);
  if (Array.isArray(args)) return args.map((a) => withTemplate(a, tpl));
  if (args && typeof args === 'object') return Object.fromEntries(Object.entries(args).map(([k, v]) => [k, withTemplate(v, tpl)]));
  return args;
}

export function expectActionError(err: unknown, retryable?: boolean): asserts err is ActionError {
  expect(err, `rejected with ${String(err)}`).toBeInstanceOf(ActionError);
  const e = err as ActionError;
  expect(typeof e.retryable).toBe('boolean');
  expect(typeof e.message).toBe('string');
  if (e.output !== undefined) expect(typeof e.output).toBe('string');
  if (retryable !== undefined) expect(e.retryable, `retryable of "${e.message}"`).toBe(retryable);
}

export function expectActionResult(res: unknown): asserts res is ActionResult {
  expect(res !== null && typeof res === 'object' && !Array.isArray(res), 'run() resolves with an object').toBe(true);
  const r = res as ActionResult;
  if (r.output !== undefined) expect(typeof r.output).toBe('string');
  if (r.changed !== undefined) expect(typeof r.changed).toBe('boolean');
  if (r.undo !== undefined) {
    expect(ACTIONS.has(r.undo.type), `undo type ${r.undo.type} is registered`).toBe(true);
    expect(JSON.parse(JSON.stringify(r.undo))).toEqual(r.undo);
  }
}

async function using<T extends Example, R>(thunk: Thunk<T>, fn: (ex: T) => Promise<R>): Promise<R> {
  const ex = await thunk();
  try {
    return await fn(ex);
  } finally {
    await ex.cleanup?.();
  }
}

export function actionContract<E extends Example = Example>(name: string, cases: ActionCases<E>): void {
  contracted.add(name);
  const bugs = new Map(Object.entries(cases.knownBugs ?? {}));
  const test = (title: string, fn: () => unknown, timeout?: number) => {
    const bug = bugs.get(title);
    bugs.delete(title);
    if (bug) it.fails(`${title} [KNOWN BUG: ${bug}]`, fn, timeout);
    else it(title, fn, timeout);
  };
  const action = (): ActionType => {
    const a = ACTIONS.get(name);
    if (!a) throw new Error(`no action "${name}" in ACTIONS`);
    return a;
  };

  describe(`action contract: ${name}`, () => {
    test('is registered under its type', () => {
      expect(action().type).toBe(name);
    });

    test('check() rejects garbage with problems (path + message), without throwing', () => {
      for (const g of GARBAGE) expectProblems(action().check(g), `check(${JSON.stringify(g)})`);
    });

    if (cases.invalid?.length) {
      test('check() reports each wrongly shaped argument at its path', () => {
        for (const { args, path } of cases.invalid ?? []) {
          const problems = action().check(args);
          expectProblems(problems, `check(${JSON.stringify(args)})`);
          expect(
            problems.map((p) => p.path),
            `check(${JSON.stringify(args)}) -> ${JSON.stringify(problems)}`,
          ).toContainEqual(path);
        }
      });
    }

    if (cases.literal?.length) {
      test('check() refuses templates in fields that must be literal', () => {
        for (const args of cases.literal ?? []) expectProblems(action().check(args), `check(${JSON.stringify(args)})`);
      });
    }

    test('check() accepts the valid example', () =>
      using(cases.valid, async (ex) => {
        expect(action().check(ex.args)).toEqual([]);
      }));

    test('render() is pure: same input -> deep-equal output, input and vars not mutated, output serialisable', () =>
      using(cases.valid, async (ex) => {
        const args = deepFreeze(structuredClone(ex.args));
        const vars = deepFreeze(varsFor(ex.labels));
        const a = action().render(args, vars);
        const b = action().render(args, vars);
        expect(b).toEqual(a);
        expect(args).toEqual(ex.args);
        expect(vars).toEqual(varsFor(ex.labels));
        expect(JSON.parse(JSON.stringify(a))).toEqual(a);
      }));

    if (cases.hostile) {
      const h = cases.hostile;
      const renderWith = (value: string): unknown => action().render(deepFreeze(structuredClone(h.args)), deepFreeze(varsFor({ evil: value })));

      test('check() accepts the templated (hostile) example', () => {
        expect(action().check(h.args)).toEqual([]);
      });

      test('check() refuses unknown or malformed references in template slots', () => {
        for (const bad of BAD_TEMPLATES) expectProblems(action().check(withTemplate(h.args, bad)), `template ${bad}`);
      });

      test('render() fails with a TemplateError on a missing label (no silent empty value)', () => {
        expect(() => action().render(h.args, varsFor())).toThrow(TemplateError);
        expect(() => action().render(h.args, varsFor())).toThrow(/labels\.evil/);
      });

      for (const [what, value] of Object.entries(HOSTILE)) {
        if (h.refused?.includes(what)) {
          test(`render() refuses a hostile label value (${what}) that cannot stay in its slot`, () => {
            expect(() => renderWith(value)).toThrow(TemplateError);
          });
          continue;
        }
        test(`render() puts a hostile label value (${what}) only into its data slot`, () => {
          const harmless = renderWith(HARMLESS);
          const hostile = renderWith(value);
          expect(h.frame(hostile), 'everything outside the data slots is unchanged').toEqual(h.frame(harmless));
          expect(h.slots(hostile), 'each slot holds the value verbatim').toEqual(h.slots(harmless).map((s) => s.split(HARMLESS).join(value)));
          expect(JSON.stringify(hostile), 'no environment value leaks in').not.toContain(SECRET_ENV.PROMEDIC_TOKEN);
        });
      }
    }

    test('run() of the rendered valid example resolves with an ActionResult', () =>
      using(cases.valid, async (ex) => {
        const rendered: unknown = JSON.parse(JSON.stringify(action().render(ex.args, varsFor(ex.labels))));
        const res = await action().run(rendered, ctxWith(undefined, ex.prometheusUrl ?? null));
        expectActionResult(res);
        await cases.afterRun?.(res, ex);
      }));

    if (cases.failing) {
      const failing = cases.failing;
      test('run() of a failing example rejects with an ActionError with a boolean retryable', () =>
        using(failing, async (ex) => {
          const rendered = action().render(ex.args, varsFor(ex.labels));
          const err = await action()
            .run(rendered, ctxWith(undefined, ex.prometheusUrl ?? null))
            .then(
              () => null,
              (e: unknown) => e,
            );
          expect(err, 'run() rejected').not.toBeNull();
          expectActionError(err, ex.retryable);
        }));
    }

    if (cases.slow) {
      const slow = cases.slow;
      test(
        'run() rejects promptly when the signal is already aborted',
        () =>
          using(slow, async (ex) => {
            const rendered = action().render(ex.args, varsFor(ex.labels));
            const signal = AbortSignal.abort(new Error('cancelled by test'));
            const r = await settleWithin(action().run(rendered, ctxWith(signal, ex.prometheusUrl ?? null)), 2000);
            expect(r.settled, 'run() settled within 2 s').toBe(true);
            expect(r.settled && !r.ok, 'run() rejected').toBe(true);
          }),
        10_000,
      );

      test(
        'run() rejects promptly when the signal aborts while it runs',
        () =>
          using(slow, async (ex) => {
            const rendered = action().render(ex.args, varsFor(ex.labels));
            const ac = new AbortController();
            const p = action().run(rendered, ctxWith(ac.signal, ex.prometheusUrl ?? null));
            // Let it get going (connect, spawn, start the timer) before aborting.
            await new Promise((r) => setTimeout(r, 150));
            const at = Date.now();
            ac.abort(new Error('cancelled by test'));
            const r = await settleWithin(p, 2000, at);
            expect(r.settled, 'run() settled within 2 s of the abort').toBe(true);
            expect(r.settled && !r.ok, 'run() rejected').toBe(true);
          }),
        10_000,
      );
    }

    if (bugs.size) throw new Error(`knownBugs for ${name} name no test: ${[...bugs.keys()].join('; ')}`);
  });
}
