/**
 * Reading and writing a tuning playbook's knob through the action layer, with the same
 * templating and security rules as healing steps: a literal origin for HTTP (templates only in
 * headers, path and query, e.g. a bearer token from {{ env.X }}), the `config` action's atomic
 * file write for a file key, and argv without a shell for a command, the value being one argv
 * element. The value itself comes from the playbook's knob definition, never from an alert.
 */
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { Logger } from 'pino';
import { ACTIONS } from '../actions/index.js';
import { renderHttp, send } from '../actions/http.js';
import { type TemplateVars } from '../rules/template.js';
import { type TuningKnob, fillKnobRefs } from '../rules/tuning.js';
import type { KnobIO } from './experiment.js';
import type { KnobValue } from './knob.js';

export class KnobReadError extends Error {}

function varsFor(playbook: string, knob: string): TemplateVars {
  return { labels: {}, annotations: {}, alert: {}, run: { id: '', strategy: knob, mode: 'enforce' }, playbook: { name: playbook, category: 'tuning' }, env: process.env };
}

/** A read value as the knob's type: numeric knobs accept numbers and numeric strings. */
export function coerce(knob: TuningKnob, raw: unknown, where: string): KnobValue {
  if (knob.type !== 'enum' || knob.values?.every((v) => typeof v === 'number')) {
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw.trim()) : Number.NaN;
    if (!Number.isFinite(n)) throw new KnobReadError(`${where}: ${knob.name} is ${JSON.stringify(raw)}, not a number`);
    return n;
  }
  if (typeof raw !== 'string' && typeof raw !== 'number') throw new KnobReadError(`${where}: ${knob.name} is ${JSON.stringify(raw)}, not a value`);
  return typeof raw === 'string' ? raw.trim() : raw;
}

export function knobIO(playbook: string, target: string, knob: TuningKnob, logger: Logger): KnobIO {
  const vars = varsFor(playbook, knob.name);
  const a = knob.access;
  const ctx = (signal: AbortSignal) => ({ signal, logger, prometheusUrl: null });
  switch (a.kind) {
    case 'http':
      return {
        async read(signal) {
          const r = renderHttp({ method: 'GET', url: a.url, headers: a.headers }, vars);
          const { text } = await send(r, signal);
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            throw new KnobReadError(`GET ${r.url}: the answer is not JSON`);
          }
          const v = a.key.split('.').reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), body);
          return coerce(knob, v, `GET ${r.url}: "${a.key}"`);
        },
        async write(value, signal) {
          const body = a.key.split('.').reduceRight<unknown>((inner, k) => ({ [k]: inner }), value);
          await send(renderHttp({ method: a.method, url: a.url, headers: a.headers, body }, vars), signal);
        },
      };
    case 'file':
      return {
        async read() {
          let text: string;
          try {
            text = await readFile(a.path, 'utf8');
          } catch (err) {
            throw new KnobReadError(`${a.path}: ${(err as NodeJS.ErrnoException).code}`);
          }
          const data = a.path.endsWith('.json') ? (JSON.parse(text) as unknown) : parseDocument(text).toJS();
          const v = a.key.split('.').reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), data);
          return coerce(knob, v, `${a.path}: ${a.key}`);
        },
        async write(value, signal) {
          const action = ACTIONS.get('config') as NonNullable<ReturnType<typeof ACTIONS.get>>;
          await action.run(action.render({ file: a.path, key: a.key, value }, vars), ctx(signal));
        },
      };
    case 'command': {
      const exec = ACTIONS.get('exec') as NonNullable<ReturnType<typeof ACTIONS.get>>;
      return {
        async read(signal) {
          const res = await exec.run(exec.render({ argv: a.read, env: a.env }, vars), ctx(signal));
          const lines = (res.output ?? '').trim().split('\n');
          return coerce(knob, lines[lines.length - 1] ?? '', `${a.read[0]}`);
        },
        async write(value, signal) {
          const argv = a.write.map((x) => fillKnobRefs(x, { name: knob.name, target, value }));
          await exec.run(exec.render({ argv, env: a.env }, vars), ctx(signal));
        },
      };
    }
  }
}
