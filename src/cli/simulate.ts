/**
 * `promedic simulate --alert FILE`: what promedic would do with an alert, executing nothing.
 * Which playbooks match and why (or why not), the strategy order, every step with its
 * templates rendered, and what cooldowns, suspensions and pause would do — read from the
 * data dir's state file without taking its lock, so it works beside a running service.
 */
import { effectiveMode } from '../mode.js';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ACTIONS } from '../actions/index.js';
import type { Alert } from '../alert.js';
import type { Config } from '../config.js';
import { classify } from '../engine/classify.js';
import { explainMatch, gate, targetKey, templateVarsFor } from '../engine/plan.js';
import { errorMessage } from '../errors.js';
import { parsePayload } from '../intake/alertmanager.js';
import { loadClassification } from '../rules/index.js';
import { loadRules } from '../rules/playbook.js';
import type { JournalEntry, PersistedState } from '../store/types.js';
import { learningOptions } from '../config.js';
import { type LearningState, createLearningState, learningFromJSON, recordFiring, recordOutcome, signatureOf, sweepChronic } from '../learning/index.js';
import { explainSignature } from '../engine/explain.js';

export interface SimulatedStep {
  strategy: string;
  step: string;
  type: string;
  rendered?: unknown;
  undo?: unknown;
  error?: string;
}

export interface Simulation {
  alert: { labels: Record<string, string>; status: string; episode: string; category: string; severity: string };
  playbooks: Array<{
    playbook: string;
    matched: boolean;
    reason: string;
    mode?: string;
    strategies?: string[];
    /** The order the next run would lead with for this alert's signature, and why. */
    order?: { signature: string; order: string[]; learned: boolean; reason: string };
    steps?: SimulatedStep[];
    would?: string;
  }>;
}

function readAlerts(file: string): Alert[] {
  const body = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  // One alert ({labels, ...}) or a whole Alertmanager payload.
  const payload =
    Array.isArray(body.alerts) || body.version !== undefined
      ? body
      : { version: '4', status: body.status ?? 'firing', alerts: [{ status: 'firing', startsAt: new Date().toISOString(), ...body }] };
  return parsePayload(payload).map((a) => ({ ...a, category: '', severity: '' }));
}

function readState(dataDir: string): Partial<PersistedState> {
  try {
    return JSON.parse(readFileSync(join(dataDir, 'state.json'), 'utf8')) as PersistedState;
  } catch {
    return {};
  }
}

/** The learning state as the service has it: the snapshot, then the journals' learning entries. */
function readLearning(config: Config, state: Partial<PersistedState>): LearningState {
  const opts = learningOptions(config);
  let l: LearningState;
  try {
    l = state.learning ? learningFromJSON(state.learning, opts) : createLearningState(opts);
  } catch {
    l = createLearningState(opts);
  }
  let files: string[] = [];
  try {
    files = readdirSync(config.data_dir).filter((f) => /^journal\.\d+\.jsonl$/.test(f));
  } catch {
    return l;
  }
  files.sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]));
  for (const f of files) {
    for (const line of readFileSync(join(config.data_dir, f), 'utf8').split('\n')) {
      if (!line.includes('"op":"outcome"') && !line.includes('"op":"firing"') && !line.includes('"op":"sweep"')) continue;
      try {
        const e = JSON.parse(line) as JournalEntry;
        if (e.op === 'outcome') recordOutcome(l, e.v);
        else if (e.op === 'firing') recordFiring(l, e.v);
        else if (e.op === 'sweep') sweepChronic(l, e.at);
      } catch {
        // a torn last line: never acknowledged
      }
    }
  }
  return l;
}

export function simulate(config: Config, alertFile: string, rulesDir: string): Simulation[] {
  const rules = loadRules(rulesDir);
  if (rules.errors.length) throw new Error(`rules have problems (run promedic check):\n${rules.errors.join('\n')}`);
  const classification = loadClassification(rulesDir).rules;
  const state = readState(config.data_dir);
  const learning = readLearning(config, state);
  const now = Date.now();
  // Secrets stay secret: env references are shown by name, never by value.
  const env = new Proxy({} as Record<string, string>, { get: (_t, k) => `<env ${String(k)}>` });
  return readAlerts(alertFile).map((raw) => {
    const first = rules.rules.playbooks.find((pb) => explainMatch(pb, raw.labels).matched);
    const { category, severity } = classify(raw.labels, { playbookCategory: first?.category, rules: classification });
    const alert: Alert = { ...raw, category, severity };
    const sim: Simulation = {
      alert: { labels: alert.labels, status: alert.status, episode: alert.episode, category, severity },
      playbooks: [],
    };
    for (const pb of rules.rules.playbooks) {
      const ex = explainMatch(pb, alert.labels);
      if (!ex.matched) {
        sim.playbooks.push(ex);
        continue;
      }
      const mode = effectiveMode(pb.mode, config);
      const signature = signatureOf(alert.labels, pb.target);
      const ex2 = explainSignature(learning, pb, signature, config.learning.enabled, now);
      const ordered = ex2.order.map((name) => pb.strategies.find((st) => st.name === name)).filter((st) => st !== undefined);
      const steps: SimulatedStep[] = [];
      for (const s of ordered) {
        const vars = { ...templateVarsFor(alert, pb, { id: '<run id>', strategy: s.name, mode }), env };
        for (const st of s.steps) {
          const out: SimulatedStep = { strategy: s.name, step: st.name, type: st.type };
          try {
            out.rendered = ACTIONS.get(st.type)?.render(st.args, vars);
            if (st.undo) out.undo = { type: st.undo.type, rendered: ACTIONS.get(st.undo.type)?.render(st.undo.args, vars) };
          } catch (err) {
            out.error = errorMessage(err);
          }
          steps.push(out);
        }
      }
      const key = targetKey(pb, alert.labels);
      const skip =
        alert.status === 'resolved'
          ? { reason: 'resolved', detail: 'a resolved alert closes its episode; it starts nothing' }
          : state.episodes?.some((e) => e.key === alert.episode)
            ? { reason: 'duplicate', detail: 'this episode is already recorded: a repeat starts nothing' }
            : gate(pb, {
                now,
                paused: state.paused ?? config.engine.paused,
                cooldownUntil: state.cooldowns?.[key],
                suspension: state.suspensions?.[key],
                targetBusy: false,
                playbookStarts: [],
                globalStarts: [],
                maxRunsPerMinute: config.engine.max_runs_per_minute,
              });
      sim.playbooks.push({
        ...ex,
        mode,
        strategies: ordered.map((s) => `${s.name} (risk ${s.risk})`),
        order: { signature, order: ex2.order, learned: ex2.learned, reason: ex2.reason },
        steps,
        would: skip ? `skip (${skip.reason}): ${skip.detail}` : mode === 'enforce' ? 'run' : `record the plan only (${mode})`,
      });
    }
    return sim;
  });
}

/** Human-readable report. */
export function formatSimulation(sims: Simulation[]): string {
  const lines: string[] = [];
  for (const s of sims) {
    const labels = Object.entries(s.alert.labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ');
    lines.push(`alert {${labels}} ${s.alert.status}: category ${s.alert.category}, severity ${s.alert.severity}`);
    for (const p of s.playbooks) {
      if (!p.matched) {
        lines.push(`  - ${p.playbook}: no match: ${p.reason}`);
        continue;
      }
      lines.push(`  + ${p.playbook}: matches (${p.reason}); mode ${p.mode}; would ${p.would}`);
      lines.push(`    strategies in order: ${(p.strategies ?? []).join(', ')}`);
      if (p.order) lines.push(`    order for ${p.order.signature}: ${p.order.reason}`);
      for (const st of p.steps ?? []) {
        lines.push(`    ${st.strategy} / ${st.step} [${st.type}]: ${st.error ? `CANNOT RENDER: ${st.error}` : JSON.stringify(st.rendered)}`);
        if (st.undo) lines.push(`      undo: ${JSON.stringify(st.undo)}`);
      }
    }
    if (!s.playbooks.some((p) => p.matched)) lines.push('  no playbook matches: the alert would be recorded only');
  }
  return `${lines.join('\n')}\n`;
}

