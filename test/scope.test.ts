/**
 * Fleet scope (src/scope.ts): which alerts a promedic acts on, and the checks that keep a fleet
 * from running host steps everywhere; then the same through the config loader and the CLI.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { loadRules } from '../src/rules/playbook.js';
import { fleetProblems, hostOf, outOfScope } from '../src/scope.js';
import { runCli, tempDir } from './helpers/index.js';

const id = { instance: 'db-1:9477', labels: { role: 'db', region: 'eu' } };

describe('outOfScope', () => {
  it('no scope, or any: everything is in scope', () => {
    expect(outOfScope(undefined, {}, id)).toBeNull();
    expect(outOfScope(null, { instance: 'x:1' }, id)).toBeNull();
    expect(outOfScope('any', { instance: 'elsewhere:9100' }, id)).toBeNull();
  });

  it('instance: self matches this identity or the same host on another port, nothing else', () => {
    const s = { instance: 'self' as const };
    expect(outOfScope(s, { instance: 'db-1:9477' }, id)).toBeNull();
    expect(outOfScope(s, { instance: 'db-1:9100' }, id)).toBeNull(); // its node_exporter
    expect(outOfScope(s, { instance: 'db-1' }, id)).toBeNull();
    expect(outOfScope(s, { instance: 'db-10:9477' }, id)).toMatch(/instance db-10:9477 is not this host \(db-1:9477\)/);
    expect(outOfScope(s, {}, id)).toMatch(/no instance label/);
    expect(outOfScope(s, { instance: '[::1]:9100' }, { instance: '[::1]:9477', labels: {} })).toBeNull();
  });

  it('labels: self is this promedic\'s own value, anything else a literal; all must hold, with instance too', () => {
    expect(outOfScope({ labels: { role: 'self' } }, { role: 'db' }, id)).toBeNull();
    expect(outOfScope({ labels: { role: 'self' } }, { role: 'web' }, id)).toMatch(/role web is not this host's role \(db\)/);
    expect(outOfScope({ labels: { role: 'self' } }, {}, id)).toMatch(/no role label/);
    expect(outOfScope({ labels: { env: 'prod' } }, { env: 'prod' }, id)).toBeNull();
    expect(outOfScope({ labels: { env: 'prod' } }, { env: 'dev' }, id)).toMatch(/env dev is not prod/);
    const both = { instance: 'self' as const, labels: { role: 'self' } };
    expect(outOfScope(both, { instance: 'db-1:9100', role: 'db' }, id)).toBeNull();
    expect(outOfScope(both, { instance: 'db-1:9100', role: 'web' }, id)).not.toBeNull();
    expect(outOfScope(both, { instance: 'db-2:9100', role: 'db' }, id)).not.toBeNull();
  });

  it('hostOf', () => {
    expect(hostOf('a.example.com:9100')).toBe('a.example.com');
    expect(hostOf('a')).toBe('a');
    expect(hostOf('[2001:db8::1]:9100')).toBe('2001:db8::1');
  });
});

function rules(yaml: string) {
  const d = tempDir();
  const f = join(d.path, 'pb.yml');
  writeFileSync(f, yaml);
  const r = loadRules('', [f]);
  expect(r.errors).toEqual([]);
  return r.rules.playbooks;
}

const HOST_PLAYBOOK = `playbooks:
  - name: web
    match: ['alertname = "A"']
    strategies: [ { steps: [ { http: { url: "http://127.0.0.1:1/x" } } ] } ]
  - name: restart
    match: ['alertname = "B"']
    strategies: [ { steps: [ { exec: { argv: [systemctl, restart, app] } } ] } ]
  - name: undo-edits-a-file
    match: ['alertname = "C"']
    strategies: [ { steps: [ { http: { url: "http://127.0.0.1:1/x" }, undo: { config: { file: /etc/app.yml, key: a, value: 1 } } } ] } ]
`;

describe('fleetProblems', () => {
  it('in fleet mode, a playbook with exec, signal or config steps (undo included) needs a scope', () => {
    const pbs = rules(HOST_PLAYBOOK);
    const p = fleetProblems(pbs, { identity: id, fleet: true });
    expect(p).toHaveLength(2);
    expect(p[0]).toMatch(/pb\.yml:\d+: playbook restart: fleet mode \(fleet\.enabled\) needs a scope for a playbook with exec steps/);
    expect(p[1]).toMatch(/playbook undo-edits-a-file: .* config steps/);
    expect(fleetProblems(pbs, { identity: id, fleet: false })).toEqual([]);
    expect(fleetProblems(pbs, { identity: id, fleet: true, scope: { instance: 'self' } })).toEqual([]);
    expect(fleetProblems(pbs, { identity: id, fleet: true, scope: 'any' })).toEqual([]);
  });

  it('a playbook scope naming a label this promedic does not have is a problem, at its file:line', () => {
    const pbs = rules(`name: x\nmatch: ['alertname = "A"']\nscope: { labels: { rack: self } }\nstrategies: [ { steps: [ { wait: 1s } ] } ]\n`);
    expect(fleetProblems(pbs, { identity: id, fleet: false })).toEqual([expect.stringMatching(/pb\.yml:1: playbook x: scope\.labels\.rack: self, but instance_labels has no rack/)]);
  });
});

describe('configuration', () => {
  it('reads instance, instance_labels, scope and fleet (PROMEDIC_INSTANCE, PROMEDIC_FLEET)', () => {
    const d = tempDir();
    writeFileSync(join(d.path, 'promedic.yml'), 'instance_labels: { role: db }\nscope: { instance: self, labels: { role: self } }\n');
    const c = loadConfig({ cwd: d.path, env: { PROMEDIC_INSTANCE: 'db-1:9477', PROMEDIC_FLEET: 'true' } });
    expect(c.instance).toBe('db-1:9477');
    expect(c.fleet.enabled).toBe(true);
    expect(c.scope).toEqual({ instance: 'self', labels: { role: 'self' } });
    // The labels from the environment, over the file's (a config file shared by several hosts).
    const e = loadConfig({ cwd: d.path, env: { PROMEDIC_INSTANCE_LABELS: 'role=web, region=eu' } });
    expect(e.instance_labels).toEqual({ role: 'web', region: 'eu' });
    expect(() => loadConfig({ cwd: d.path, env: { PROMEDIC_INSTANCE_LABELS: 'role' } })).toThrow(/env PROMEDIC_INSTANCE_LABELS: .*instance_labels/);
    expect(() => loadConfig({ cwd: d.path, env: { PROMEDIC_INSTANCE_LABELS: 'instance=x' } })).toThrow(/instance_labels/);
  });

  it('refuses a global scope with a self label the instance lacks, a bad scope, and instance as a label', () => {
    const d = tempDir();
    writeFileSync(join(d.path, 'promedic.yml'), 'scope: { labels: { role: self } }\n');
    expect(() => loadConfig({ cwd: d.path, env: {} })).toThrow(/scope\.labels\.role: self, but instance_labels has no role/);
    writeFileSync(join(d.path, 'promedic.yml'), 'scope: { instance: other }\n');
    expect(() => loadConfig({ cwd: d.path, env: {} })).toThrow(/promedic\.yml:1: .*scope/);
    writeFileSync(join(d.path, 'promedic.yml'), 'instance_labels: { instance: x }\n');
    expect(() => loadConfig({ cwd: d.path, env: {} })).toThrow(/instance_labels/);
    expect(() => loadConfig({ cwd: d.path, env: { PROMEDIC_FLEET: 'yes' } })).toThrow(/fleet\.enabled/);
  });

  it('promedic start refuses (exit 2, file:line) a fleet whose host-step playbook has no scope', () => {
    const d = tempDir();
    mkdirSync(join(d.path, 'rules', 'playbooks'), { recursive: true });
    writeFileSync(join(d.path, 'rules', 'playbooks', 'host.yml'), HOST_PLAYBOOK);
    const r = runCli(['start', '--port', '0', '--rules', join(d.path, 'rules'), '--data-dir', join(d.path, 'data')], { env: { PROMEDIC_FLEET: 'true' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/host\.yml:\d+: playbook restart: fleet mode \(fleet\.enabled\) needs a scope/);
  });
  it('promedic check reports the same (exit 1, file:line), and passes the playbook once it has a scope', () => {
    const d = tempDir();
    mkdirSync(join(d.path, 'rules', 'playbooks'), { recursive: true });
    const file = join(d.path, 'rules', 'playbooks', 'host.yml');
    writeFileSync(file, HOST_PLAYBOOK);
    const bad = runCli(['check', join(d.path, 'rules')], { env: { PROMEDIC_FLEET: 'true' } });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/host\.yml:\d+: playbook restart: fleet mode \(fleet\.enabled\) needs a scope/);
    // Without fleet mode the same playbook is fine.
    expect(runCli(['check', join(d.path, 'rules')], { env: {} }).code).toBe(0);
    // A global scope in the config covers it.
    writeFileSync(join(d.path, 'promedic.yml'), 'fleet: { enabled: true }\nscope: { instance: self }\n');
    const ok = runCli(['check', '--config', join(d.path, 'promedic.yml'), join(d.path, 'rules')], { env: {} });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
  });
});
