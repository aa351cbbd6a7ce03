/**
 * Alertmanager-style label matchers: `name = "value"`, `name != "value"`, `name =~ "regex"`,
 * `name !~ "regex"`. Regexes are fully anchored, as in Prometheus and Alertmanager.
 * Pure functions over plain data.
 */
export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface Matcher {
  name: string;
  op: MatchOp;
  value: string;
  re?: RegExp;
  /** The matcher as written, for explanations. */
  text: string;
}

const MATCHER_RE = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([^\s"']*))\s*$/;

/** Parses one matcher; throws with a message naming what is wrong. */
export function parseMatcher(text: string): Matcher {
  const m = MATCHER_RE.exec(text);
  if (!m) throw new Error(`invalid matcher ${JSON.stringify(text)}: expected label="value", label!="value", label=~"regex" or label!~"regex"`);
  const raw = m[3] ?? m[4] ?? m[5] ?? '';
  const value = raw.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  const op = m[2] as MatchOp;
  const out: Matcher = { name: m[1] as string, op, value, text: text.trim() };
  if (op === '=~' || op === '!~') {
    try {
      out.re = new RegExp(`^(?:${value})$`);
    } catch (err) {
      throw new Error(`invalid regex in matcher ${JSON.stringify(text)}: ${(err as Error).message}`);
    }
  }
  return out;
}

/** A missing label matches as the empty string, as in Alertmanager. */
export function matches(m: Matcher, labels: Record<string, string>): boolean {
  const v = labels[m.name] ?? '';
  switch (m.op) {
    case '=':
      return v === m.value;
    case '!=':
      return v !== m.value;
    case '=~':
      return (m.re as RegExp).test(v);
    case '!~':
      return !(m.re as RegExp).test(v);
  }
}

/** Every matcher must hold; returns the first that does not, or null when all hold. */
export function firstMismatch(ms: Matcher[], labels: Record<string, string>): Matcher | null {
  for (const m of ms) if (!matches(m, labels)) return m;
  return null;
}
