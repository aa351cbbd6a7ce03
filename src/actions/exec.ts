import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { checkTemplate, render, type TemplateVars } from '../rules/template.js';
import { ActionError, type ActionType, type Problem, checkKeys, excerpt, isObject } from './types.js';

interface ExecArgs {
  argv: string[];
  env?: Record<string, string>;
  cwd?: string;
}

export interface RenderedExec {
  argv: string[];
  env: Record<string, string>;
  cwd?: string;
}

/** Only these variables of promedic's own environment reach a child: never its token or other secrets. */
const INHERITED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];

/**
 * `exec: {argv: [program, arg...], env: {...}}` — execFile semantics: no shell, ever. Each
 * rendered template is exactly one argv element or env value, whatever it contains. The
 * child gets its own process group, so a timeout kills it and everything it started.
 */
/** Linux refuses one argument or environment string longer than this (MAX_ARG_STRLEN, 32 pages). */
export const MAX_ARG_BYTES = 128 * 1024;

/**
 * Why a rendered command cannot be handed to the kernel, or null. A C string cannot hold a NUL
 * byte and execve refuses an over-long one: say which slot, instead of spawn's TypeError or E2BIG.
 */
function unpassable(r: RenderedExec): string | null {
  const slots: Array<[string, string]> = [...r.argv.map((v, i): [string, string] => [`argv[${i}]`, v]), ...Object.entries(r.env).map(([k, v]): [string, string] => [`env.${k}`, `${k}=${v}`])];
  for (const [slot, v] of slots) {
    if (v.includes('\0')) return `${slot} contains a NUL byte, which no program can receive; nothing was run`;
    const n = Buffer.byteLength(v);
    if (n >= MAX_ARG_BYTES) return `${slot} is ${n} bytes, over the ${MAX_ARG_BYTES}-byte limit of one argument or environment string; nothing was run`;
  }
  return null;
}

export const exec: ActionType = {
  type: 'exec',
  check(args) {
    const p: Problem[] = checkKeys(args, ['argv', 'env', 'cwd'], ['argv']);
    if (!isObject(args)) return p;
    const argv = args.argv;
    if (!Array.isArray(argv) || argv.length === 0 || !argv.every((x) => typeof x === 'string')) {
      p.push({ path: ['argv'], message: 'must be a non-empty list of strings (program first; no shell is used)' });
    } else {
      if ((argv[0] as string).includes('{{')) p.push({ path: ['argv', '0'], message: 'the program must be literal, not a template' });
      argv.forEach((a, i) => {
        for (const m of checkTemplate(a as string)) p.push({ path: ['argv', String(i)], message: m });
      });
    }
    if (args.env !== undefined) {
      if (!isObject(args.env)) p.push({ path: ['env'], message: 'must be a mapping of strings' });
      else
        for (const [k, v] of Object.entries(args.env)) {
          if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) p.push({ path: ['env', k], message: 'invalid variable name' });
          if (typeof v !== 'string') p.push({ path: ['env', k], message: 'must be a string' });
          else for (const m of checkTemplate(v)) p.push({ path: ['env', k], message: m });
        }
    }
    if (args.cwd !== undefined && (typeof args.cwd !== 'string' || args.cwd.includes('{{'))) {
      p.push({ path: ['cwd'], message: 'must be a literal path' });
    }
    return p;
  },
  render(args: unknown, vars: TemplateVars): RenderedExec {
    const a = args as ExecArgs;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(a.env ?? {})) env[k] = render(v, vars);
    return { argv: a.argv.map((x) => render(x, vars)), env, ...(a.cwd ? { cwd: a.cwd } : {}) };
  },
  run(rendered, ctx) {
    const r = rendered as RenderedExec;
    return new Promise((resolve, reject) => {
      if (ctx.signal.aborted) return reject(ctx.signal.reason);
      const bad = unpassable(r);
      if (bad) return reject(new ActionError(`exec ${r.argv[0]}: ${bad}`, { retryable: false }));
      const env: Record<string, string> = {};
      for (const k of INHERITED_ENV) if (process.env[k] !== undefined) env[k] = process.env[k] as string;
      Object.assign(env, r.env);
      let child: ChildProcessByStdio<null, Readable, Readable>;
      try {
        child = spawn(r.argv[0] as string, r.argv.slice(1), {
          shell: false,
          detached: true, // own process group, so the whole tree can be killed
          env,
          cwd: r.cwd,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
      } catch (err) {
        // Some spawn failures (E2BIG: the arguments together are too long) throw instead of emitting 'error'.
        return reject(new ActionError(`exec ${r.argv[0]}: ${(err as Error).message}`, { retryable: false, cause: err }));
      }
      let out = '';
      const collect = (d: Buffer) => {
        if (out.length < 64 * 1024) out += d.toString();
      };
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);
      const kill = () => {
        try {
          if (child.pid) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      };
      const onAbort = () => kill();
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      child.on('error', (err) => {
        ctx.signal.removeEventListener('abort', onAbort);
        reject(new ActionError(`exec ${r.argv[0]}: ${err.message}`, { retryable: false, cause: err }));
      });
      child.on('close', (code, sig) => {
        ctx.signal.removeEventListener('abort', onAbort);
        if (ctx.signal.aborted) return reject(ctx.signal.reason);
        if (code === 0) resolve({ output: excerpt(out.trim()), changed: true });
        else
          reject(
            new ActionError(`exec ${r.argv[0]}: ${sig ? `killed by ${sig}` : `exit code ${code}`}`, {
              retryable: true,
              output: excerpt(out.trim()),
            }),
          );
      });
    });
  },
};
