/**
 * PromQL syntax check with the Prometheus project's own grammar (@prometheus-io/lezer-promql,
 * the parser behind Prometheus' web UI), so `promedic check` catches a typo in a query step
 * before it fails at 3 a.m. Template references are replaced by a placeholder first.
 */
import { createRequire } from 'node:module';
import type { LRParser } from '@lezer/lr';

// Loaded on first use: only rules with query steps need the grammar, and a running service
// should not carry its parse tables (about 2.5 MB) otherwise.
let parser: LRParser | null = null;
function promqlParser(): LRParser {
  parser ??= (createRequire(import.meta.url)('@prometheus-io/lezer-promql') as { parser: LRParser }).parser;
  return parser;
}

/** Returns null when the expression parses, else a message with the column of the first error. */
export function checkPromql(expr: string): string | null {
  const text = expr.replace(/\{\{\s*[a-zA-Z_][a-zA-Z0-9_]*\.[a-zA-Z_][a-zA-Z0-9_]*\s*\}\}/g, 'x');
  if (!text.trim()) return 'empty PromQL expression';
  const tree = promqlParser().parse(text);
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
