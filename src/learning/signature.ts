/**
 * Signatures: what kind of problem an alert is, as a stable string key. The alert's alertname
 * plus the values of the labels the playbook declares as identifying (its `target`), never
 * annotations or other free text, so the number of keys stays that of the things monitored.
 */

/** Backslash-escapes the characters that structure a signature: `\`, `,`, `=` and newline. */
function escape(v: string): string {
  return v.replace(/[\\,=\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

/**
 * `alertname=HighErrorRate,service=checkout`: alertname first, then the identifying labels by
 * name. A label that is missing or empty is left out (Prometheus treats the two alike); a
 * playbook without target labels (null or []) gives the alertname alone, because "all of the
 * alert's labels" would let per-pod or per-request labels multiply the keys. Injective:
 * different label values never share a signature.
 */
export function signatureOf(labels: Readonly<Record<string, string>>, targetLabels: readonly string[] | null): string {
  let key = `alertname=${escape(labels.alertname ?? '')}`;
  if (!targetLabels || targetLabels.length === 0) return key;
  const names = [...new Set(targetLabels)].filter((n) => n !== 'alertname').sort();
  for (const name of names) {
    const v = labels[name];
    if (v) key += `,${escape(name)}=${escape(v)}`;
  }
  return key;
}
