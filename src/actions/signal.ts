import { readFile } from 'node:fs/promises';
import { constants } from 'node:os';
import type { TemplateVars } from '../rules/template.js';
import { ActionError, type ActionType, type Problem, checkKeys, isObject } from './types.js';

/**
 * `signal: {pidfile: /run/app.pid, signal: SIGHUP}` or `{pid: 1234, ...}`. The pid and the
 * pidfile are literal: an alert can never choose which process is signalled.
 */
export const signal: ActionType = {
  type: 'signal',
  check(args) {
    const p: Problem[] = checkKeys(args, ['pid', 'pidfile', 'signal'], ['signal']);
    if (!isObject(args)) return p;
    if ((args.pid === undefined) === (args.pidfile === undefined)) p.push({ path: [], message: 'needs exactly one of pid or pidfile' });
    if (args.pid !== undefined && !(Number.isInteger(args.pid) && (args.pid as number) > 1)) p.push({ path: ['pid'], message: 'must be a literal pid > 1' });
    if (args.pidfile !== undefined && (typeof args.pidfile !== 'string' || args.pidfile.includes('{{'))) p.push({ path: ['pidfile'], message: 'must be a literal path' });
    if (typeof args.signal !== 'string' || !(args.signal in constants.signals)) p.push({ path: ['signal'], message: 'must be a signal name such as SIGHUP, SIGTERM, SIGUSR1' });
    return p;
  },
  render: (args: unknown, _vars: TemplateVars) => args,
  async run(rendered) {
    const r = rendered as { pid?: number; pidfile?: string; signal: NodeJS.Signals };
    let pid = r.pid;
    if (r.pidfile) {
      const text = await readFile(r.pidfile, 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw new ActionError(`pidfile ${r.pidfile}: ${err.code}`, { retryable: true });
      });
      pid = /^\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
      if (!Number.isInteger(pid) || pid <= 1) throw new ActionError(`pidfile ${r.pidfile} holds no valid pid`, { retryable: false });
    }
    try {
      process.kill(pid as number, r.signal);
    } catch (err) {
      throw new ActionError(`kill ${r.signal} ${pid}: ${(err as NodeJS.ErrnoException).code}`, { retryable: false });
    }
    return { output: `sent ${r.signal} to ${pid}`, changed: true };
  },
};
