/**
 * Category and severity of an alert, pure. Category comes from the first of: the matching
 * playbook's `category`, the alert's `category` label, the rules dir's classification rules
 * (the same matchers as playbooks), then the alert name's words; severity from its label.
 */
import { type Matcher, firstMismatch } from '../rules/matcher.js';

export interface ClassificationRule {
  matchers: Matcher[];
  category: string;
}

const HEURISTICS: Array<[RegExp, string]> = [
  [/(database|\bdb|sql|postgres|mysql|mongo|redis|connection ?pool)/i, 'database'],
  [/(memory|oom|heap|leak|swap)/i, 'memory'],
  [/(latency|slow|duration|cpu|load|throughput|saturat|concurrency)/i, 'performance'],
  [/(validation|invalid|malformed|schema)/i, 'validation'],
  [/(disk|filesystem|inode|node|host|network|clock)/i, 'host'],
  [/(api|http|5xx|error ?rate|errors|upstream|timeout)/i, 'api'],
];

export function classify(
  labels: Record<string, string>,
  opts: { playbookCategory?: string | undefined; rules?: ClassificationRule[] } = {},
): { category: string; severity: string } {
  const severity = (labels.severity ?? 'warning').toLowerCase() || 'warning';
  if (opts.playbookCategory) return { category: opts.playbookCategory, severity };
  if (labels.category) return { category: labels.category.toLowerCase(), severity };
  for (const r of opts.rules ?? []) if (!firstMismatch(r.matchers, labels)) return { category: r.category, severity };
  // Split camelCase alert names so "DatabaseDown" and "HighMemoryUsage" read as words.
  const words = (labels.alertname ?? '').replace(/([a-z])([A-Z])/g, '$1 $2');
  for (const [re, category] of HEURISTICS) if (re.test(words)) return { category, severity };
  return { category: 'other', severity };
}
