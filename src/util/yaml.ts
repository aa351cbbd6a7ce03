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
