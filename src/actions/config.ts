import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { isScalar, parseDocument } from 'yaml';
import { checkTemplate, render, type TemplateVars } from '../rules/template.js';
import { ActionError, type ActionResult, type ActionType, type Problem, checkKeys, excerpt, isObject } from './types.js';

interface RenderedConfig {
  file: string;
  key: string[];
  /** undefined means "delete the key" (used by undo when the key did not exist). */
  value?: unknown;
  /** Undo of a YAML value: the old scalar's source text, restored as written ("1.0", "0x80"). */
  yaml?: string;
}

function isJson(file: string): boolean {
  return file.endsWith('.json');
}

function coerceValue(v: unknown, vars: TemplateVars): unknown {
  return typeof v === 'string' ? render(v, vars) : v;
}

/** Reads the file and computes the new text and the undo, writing nothing. */
async function plan(r: RenderedConfig): Promise<{ out: string; result: ActionResult }> {
  let text: string;
  try {
    text = await readFile(r.file, 'utf8');
  } catch (err) {
    throw new ActionError(`config ${r.file}: ${(err as NodeJS.ErrnoException).code}`, { retryable: false });
  }
  let old: unknown;
  let existed: boolean;
  let out: string;
  let oldSource: string | undefined;
  // The shortest prefix of the key that did not exist: undo deletes it, parents and all.
  let created = r.key.length;
  if (isJson(r.file)) {
    const data = JSON.parse(text) as Record<string, unknown>;
    let cur: Record<string, unknown> = data;
    r.key.slice(0, -1).forEach((k, i) => {
      if (!isObject(cur[k])) {
        if (!(k in cur)) created = Math.min(created, i + 1);
        cur[k] = {};
      }
      cur = cur[k] as Record<string, unknown>;
    });
    const last = r.key[r.key.length - 1] as string;
    existed = last in cur;
    old = cur[last];
    if (r.value === undefined && r.yaml === undefined) delete cur[last];
    else cur[last] = r.value;
    out = `${JSON.stringify(data, null, 2)}\n`;
  } else {
    const doc = parseDocument(text);
    if (doc.errors.length) throw new ActionError(`config ${r.file}: invalid YAML: ${doc.errors[0]?.message}`, { retryable: false });
    existed = doc.hasIn(r.key);
    for (let i = 1; i < r.key.length; i++) if (!doc.hasIn(r.key.slice(0, i))) { created = i; break; }
    const node = existed ? (doc.getIn(r.key, true) as { range?: [number, number, number] } | unknown) : undefined;
    old = existed ? doc.getIn(r.key) : undefined;
    if (old && typeof old === 'object' && 'toJSON' in old) old = (old as { toJSON: () => unknown }).toJSON();
    // Keep a scalar's source text so undo writes back "1.0", not 1.
    const range = (node as { range?: [number, number, number] } | undefined)?.range;
    if (range && (old === null || typeof old !== 'object')) oldSource = text.slice(range[0], range[1]);
    if (r.yaml !== undefined) {
      const restored = parseDocument(r.yaml).contents;
      const current = doc.getIn(r.key, true);
      if (isScalar(current) && isScalar(restored)) {
        // Change the scalar in place so its comments stay; take the old formatting with it.
        current.value = restored.value;
        current.type = restored.type;
        if (restored.format !== undefined) current.format = restored.format;
        if (restored.minFractionDigits !== undefined) current.minFractionDigits = restored.minFractionDigits;
      } else {
        doc.setIn(r.key, restored);
      }
    }
    else if (r.value === undefined) doc.deleteIn(r.key);
    else doc.setIn(r.key, r.value);
    out = doc.toString();
  }
  const result: ActionResult = {
    output: excerpt(`${r.key.join('.')}: ${JSON.stringify(old)} -> ${JSON.stringify(r.value)}`),
    changed: true,
    undo: {
      type: 'config',
      args: existed
        ? { file: r.file, key: r.key, value: old, ...(oldSource !== undefined ? { yaml: oldSource } : {}) }
        : { file: r.file, key: r.key.slice(0, created) },
    },
  };
  return { out, result };
}

/**
 * `config: {file: app.yml, key: cache.size, value: 256}` — sets one key in a YAML or JSON file
 * (the app watches it), atomically (temp file + rename), keeping YAML comments. It remembers
 * the old value, so a failed run restores it.
 */
export const config: ActionType = {
  type: 'config',
  check(args) {
    const p: Problem[] = checkKeys(args, ['file', 'key', 'value', 'delete'], ['file', 'key']);
    if (!isObject(args)) return p;
    if (typeof args.file !== 'string' || args.file.includes('{{')) p.push({ path: ['file'], message: 'must be a literal path' });
    if (typeof args.key !== 'string' || !/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(args.key)) p.push({ path: ['key'], message: 'must be a dotted key such as cache.size' });
    if (!('value' in args) && args.delete !== true) p.push({ path: ['value'], message: 'is required' });
    if (typeof args.value === 'string') for (const m of checkTemplate(args.value)) p.push({ path: ['value'], message: m });
    return p;
  },
  render(args: unknown, vars: TemplateVars): RenderedConfig {
    const a = args as { file: string; key: string | string[]; value?: unknown; delete?: boolean };
    const key = Array.isArray(a.key) ? a.key : a.key.split('.');
    return a.delete ? { file: a.file, key } : { file: a.file, key, value: coerceValue(a.value, vars) };
  },
  async run(rendered) {
    const r = rendered as RenderedConfig;
    const { out, result } = await plan(r);
    const tmp = `${r.file}.promedic-${randomBytes(4).toString('hex')}`;
    await writeFile(tmp, out);
    await rename(tmp, r.file);
    return result;
  },
  /** The undo, from the file as it is, before the write: recorded first, so a kill mid-write can be undone. */
  async undoBefore(rendered) {
    return (await plan(rendered as RenderedConfig)).result.undo;
  },
};
