import type { Document } from 'yaml';

/** The 1-based line of a key path in a parsed YAML document, or null when the path is not there. */
export function lineOf(doc: Document, text: string, path: Array<string | number>): number | null {
  let node: unknown = doc.contents;
  let offset: number | null = null;
  for (const key of path) {
    if (!node || typeof node !== 'object' || !('items' in node)) break;
    const items = (node as { items: unknown[] }).items;
    const pair = items.find((p) => {
      const kn = (p as { key?: { value?: unknown } } | null)?.key;
      return kn && String(kn.value) === String(key);
    }) as { key?: { range?: [number, number] }; value?: unknown } | undefined;
    if (!pair) {
      const idx = Number(key);
      if (Number.isInteger(idx) && items[idx]) {
        node = items[idx];
        const r = (node as { range?: [number, number] }).range;
        if (r) offset = r[0];
        continue;
      }
      break;
    }
    if (pair.key?.range) offset = pair.key.range[0];
    node = pair.value;
  }
  if (offset === null) return null;
  return text.slice(0, offset).split('\n').length;
}

/**
 * The document as plain data, or why it cannot be: toJS() throws on what parsing lets through
 * (an alias to an anchor that is not set, alias expansion past the limit). The message carries
 * the line of the offending node when the parser knows it.
 */
export function toData(doc: Document, text: string): { ok: true; data: unknown } | { ok: false; line: number; message: string } {
  try {
    return { ok: true, data: doc.toJS({ maxAliasCount: 100 }) as unknown };
  } catch (err) {
    const message = (err as Error).message.split('\n')[0] ?? 'invalid YAML';
    // The first alias in the text is the likely culprit.
    const m = /(^|[\s:\[{,-])\*[^\s,\]}]*/m.exec(text);
    const line = m ? text.slice(0, m.index).split('\n').length + (m[1] === '\n' ? 1 : 0) : 1;
    return { ok: false, line, message };
  }
}
