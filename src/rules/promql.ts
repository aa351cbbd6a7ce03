/**
 * PromQL syntax check with the Prometheus project's own grammar (@prometheus-io/lezer-promql,
 * the parser behind Prometheus' web UI), so `promedic check` catches a typo in a query step
 * before it fails at 3 a.m. Template references are replaced by a placeholder first.
 */
import { parser } from '@prometheus-io/lezer-promql';

/** Returns null when the expression parses, else a message with the column of the first error. */
export function checkPromql(expr: string): string | null {
  const text = expr.replace(/\{\{\s*[a-zA-Z_][a-zA-Z0-9_]*\.[a-zA-Z_][a-zA-Z0-9_]*\s*\}\}/g, 'x');
  if (!text.trim()) return 'empty PromQL expression';
  const tree = parser.parse(text);
  let at = -1;
  tree.iterate({
    enter(node) {
      if (at < 0 && node.type.isError) at = node.from;
    },
  });
  if (at < 0) return null;
  const near = text.slice(Math.max(0, at - 10), at + 10);
  return `PromQL syntax error at column ${at + 1} (near ${JSON.stringify(near)})`;
}
