import type { Logger } from 'pino';
import { PromedicError } from '../errors.js';
import type { TemplateVars } from '../rules/template.js';

export interface Problem {
  path: string[];
  message: string;
}

export interface ActionContext {
  /** Aborted on step timeout, run cancellation or shutdown. */
  signal: AbortSignal;
  logger: Logger;
  /** Prometheus base URL for `query` steps (config `prometheus.url`). */
  prometheusUrl: string | null;
}

export interface ActionResult {
  /** A short excerpt for the run history. */
  output?: string;
  /** Whether the action changed something (for undo on failure and after a crash). */
  changed?: boolean;
  /** An undo the action computed itself (e.g. `config` restores the previous value). */
  undo?: { type: string; args: unknown };
}

/**
 * One action type, one file, registered in ./index.ts. Like Alertmanager's notifiers,
 * a failure says whether trying again may help (ActionError.retryable).
 */
export interface ActionType {
  readonly type: string;
  /** Load-time check of the step's arguments (shape, templates, URLs); every problem with its path. */
  check(args: unknown): Problem[];
  /** Renders the arguments with alert data as data. Pure; throws TemplateError. */
  render(args: unknown, vars: TemplateVars): unknown;
  /** Runs the rendered arguments. Throws ActionError on failure. */
  run(rendered: unknown, ctx: ActionContext): Promise<ActionResult>;
  /**
   * The undo, known before running and safe to run whether or not the action ran (it restores
   * what is there now): recorded before the action runs, so a crash mid-action can be undone.
   */
  undoBefore?(rendered: unknown): Promise<ActionResult['undo']>;
}

export class ActionError extends PromedicError {
  readonly output: string | undefined;
  constructor(message: string, opts: { retryable: boolean; output?: string; cause?: unknown }) {
    super('action_failed', message, { retryable: opts.retryable, cause: opts.cause });
    this.output = opts.output;
  }
}

export const OUTPUT_LIMIT = 2000;

export function excerpt(s: string): string {
  return s.length > OUTPUT_LIMIT ? `${s.slice(0, OUTPUT_LIMIT)}… (${s.length - OUTPUT_LIMIT} more bytes)` : s;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks that `args` is an object with only `allowed` keys and the `required` ones present. */
export function checkKeys(args: unknown, allowed: string[], required: string[]): Problem[] {
  if (!isObject(args)) return [{ path: [], message: 'must be a mapping' }];
  const out: Problem[] = [];
  for (const k of Object.keys(args)) if (!allowed.includes(k)) out.push({ path: [k], message: `unknown key (allowed: ${allowed.join(', ')})` });
  for (const k of required) if (!(k in args)) out.push({ path: [k], message: 'is required' });
  return out;
}

/** Sleeps for ms, or rejects when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
