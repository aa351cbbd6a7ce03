/**
 * Fleet scope: which alerts this promedic acts on. With one promedic per host and Alertmanager
 * sending every alert to all of them, each one acts only on the alerts about its own host (or
 * its own role), and records the rest as out of scope.
 *
 *   scope: { instance: self }            the alert's `instance` is this promedic's identity
 *                                        (or the same host: db-1:9100 is db-1's node_exporter)
 *   scope: { labels: { role: self } }    the alert's `role` is this promedic's own `role`
 *   scope: { labels: { env: prod } }     a literal value
 *   scope: any                           every promedic acts (said explicitly)
 *
 * `instance` and `labels` together must both hold. A playbook's own `scope` wins over the
 * global one; with neither, everything is in scope (a single promedic).
 */

import { hostname } from 'node:os';

export type Scope = 'any' | { instance?: 'self'; labels?: Record<string, string> };

export interface Identity {
  /** This promedic's identity (config `instance`, default hostname:port). */
  instance: string;
  /** Its static labels (config `instance_labels`: role, region...). */
  labels: Record<string, string>;
}

/** This promedic's identity from its configuration: `instance`, or hostname:port (the port as configured; 0 until bound). */
export function identityOf(c: { instance?: string | undefined; instance_labels: Record<string, string>; listen: { port: number } }): Identity {
  return { instance: c.instance ?? `${hostname()}:${c.listen.port}`, labels: c.instance_labels };
}

/** The host part of an instance label (`db-1:9100` -> `db-1`, `[::1]:9100` -> `::1`). */
export function hostOf(instance: string): string {
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(instance);
  if (v6) return v6[1] as string;
  const m = /^(.*):(\d+)$/.exec(instance);
  return (m ? m[1] : instance) as string;
}

/** Why an alert is outside a scope, or null when it is inside. */
export function outOfScope(scope: Scope | null | undefined, labels: Record<string, string>, id: Identity): string | null {
  if (!scope || scope === 'any') return null;
  if (scope.instance === 'self') {
    const inst = labels.instance;
    if (inst === undefined) return `the alert has no instance label (scope instance: self, this is ${id.instance})`;
    if (inst !== id.instance && hostOf(inst) !== hostOf(id.instance)) return `instance ${inst} is not this host (${id.instance})`;
  }
  for (const [name, want] of Object.entries(scope.labels ?? {})) {
    const expected = want === 'self' ? id.labels[name] : want;
    const got = labels[name];
    if (got === undefined) return `the alert has no ${name} label (scope ${name}: ${want})`;
    if (got !== expected) return `${name} ${got} is not ${want === 'self' ? `this host's ${name} (${expected})` : expected}`;
  }
  return null;
}

/** Problems of a scope against this promedic's identity (a `self` label it does not have). */
export function checkScope(scope: Scope | null | undefined, id: Identity): string[] {
  if (!scope || scope === 'any') return [];
  return Object.entries(scope.labels ?? {})
    .filter(([name, want]) => want === 'self' && id.labels[name] === undefined)
    .map(([name]) => `scope.labels.${name}: self, but instance_labels has no ${name}`);
}

/** Step types that act on the host promedic runs on: in fleet mode they need a scope. */
export const HOST_STEPS = new Set(['exec', 'signal', 'config']);

interface ScopedPlaybook {
  name: string;
  source: string;
  scope?: Scope;
  strategies: Array<{ steps: Array<{ type: string; undo?: { type: string } }> }>;
  onFailure: Array<{ type: string }>;
}

/**
 * Problems of the playbooks' scopes under this configuration, each `file:line: ...`: a `self`
 * label this promedic does not have, and in fleet mode a playbook with host steps (exec, signal,
 * config) and no scope, which every host would run for every host's alert.
 */
export function fleetProblems(playbooks: readonly ScopedPlaybook[], o: { identity: Identity; scope?: Scope | undefined; fleet: boolean }): string[] {
  const out: string[] = [];
  for (const pb of playbooks) {
    const scope = pb.scope ?? o.scope;
    for (const m of checkScope(scope, o.identity)) out.push(`${pb.source}: playbook ${pb.name}: ${m}${pb.scope ? '' : ' (the global scope)'}`);
    if (o.fleet && !scope) {
      const steps = [...pb.strategies.flatMap((s) => s.steps.flatMap((st) => (st.undo ? [st, st.undo] : [st]))), ...pb.onFailure];
      const host = [...new Set(steps.map((s) => s.type).filter((t) => HOST_STEPS.has(t)))];
      if (host.length) {
        out.push(
          `${pb.source}: playbook ${pb.name}: fleet mode (fleet.enabled) needs a scope for a playbook with ${host.join(', ')} steps, or every host would act on every host's alert: set scope (instance: self, labels, or any) on the playbook or globally`,
        );
      }
    }
  }
  return out;
}
