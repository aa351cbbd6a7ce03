/**
 * `promedic check [PATHS]`: validates playbook files (schema, matchers, templates, action
 * arguments, PromQL). Exit 1 with `file:line: message` per problem, 0 with a summary.
 */
import { statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadClassification } from '../rules/index.js';
import { loadRules } from '../rules/playbook.js';
import { type Identity, type Scope, fleetProblems } from '../scope.js';

function expand(paths: string[]): { files: string[]; dirs: string[]; missing: string[] } {
  const files: string[] = [];
  const dirs: string[] = [];
  const missing: string[] = [];
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch {
      missing.push(p);
      continue;
    }
    if (st.isFile()) files.push(p);
    else {
      // A rules dir (with playbooks/) or a playbooks dir itself.
      const sub = join(p, 'playbooks');
      const base = (() => {
        try {
          return statSync(sub).isDirectory() ? sub : p;
        } catch {
          return p;
        }
      })();
      if (base === sub) dirs.push(p);
      for (const n of readdirSync(base).sort()) if (/\.ya?ml$/.test(n)) files.push(join(base, n));
    }
  }
  return { files, dirs, missing };
}

/** The configuration's fleet settings, so check reports what start would refuse. */
export interface CheckFleet {
  identity: Identity;
  scope?: Scope | undefined;
  fleet: boolean;
}

export function check(paths: string[], out: (s: string) => void, err: (s: string) => void, fleet?: CheckFleet): number {
  const { files, dirs, missing } = expand(paths);
  const problems = missing.map((m) => `${m}: no such file or directory`);
  const r = loadRules('', files);
  problems.push(...r.errors);
  if (fleet && !r.errors.length) problems.push(...fleetProblems(r.rules.playbooks, fleet));
  for (const d of dirs) problems.push(...loadClassification(d).errors);
  if (problems.length) {
    for (const p of problems) err(p);
    err(`${problems.length} problem${problems.length === 1 ? '' : 's'} in ${files.length} file${files.length === 1 ? '' : 's'}`);
    return 1;
  }
  const t = r.rules.tuning.length;
  const h = r.rules.playbooks.length;
  const what = [h || !t ? `${h} playbook${h === 1 ? '' : 's'}` : null, t ? `${t} tuning playbook${t === 1 ? '' : 's'}` : null].filter(Boolean).join(' and ');
  out(`ok: ${what} in ${files.length} file${files.length === 1 ? '' : 's'}`);
  return 0;
}
