import { spawn } from 'node:child_process';
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
      const env: Record<string, string> = {};
      for (const k of INHERITED_ENV) if (process.env[k] !== undefined) env[k] = process.env[k] as string;
      Object.assign(env, r.env);
      const child = spawn(r.argv[0] as string, r.argv.slice(1), {
        shell: false,
        detached: true, // own process group, so the whole tree can be killed
        env,
        cwd: r.cwd,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
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
