/**
 * Pure decisions, shared by the engine and `promedic simulate`: which playbooks an alert
 * matches (and why not), the target key, and whether limits let a run start now.
 */
import type { Alert } from '../alert.js';
import { firstMismatch } from '../rules/matcher.js';
import type { Playbook } from '../rules/playbook.js';
import type { Suspension } from '../store/types.js';

export interface MatchExplanation {
  playbook: string;
  matched: boolean;
  reason: string;
}

/** Why an alert does or does not match a playbook, in words. */
export function explainMatch(pb: Playbook, labels: Record<string, string>): MatchExplanation {
  const miss = firstMismatch(pb.matchers, labels);
  if (miss) {
    const actual = labels[miss.name];
    return { playbook: pb.name, matched: false, reason: `${miss.text} does not hold (${miss.name} is ${actual === undefined ? 'not set' : JSON.stringify(actual)})` };
  }
  for (const r of pb.labelRules) {
    const v = labels[r.name];
    if (v === undefined) return { playbook: pb.name, matched: false, reason: `refused: required label "${r.name}" is missing` };
    if (!r.re.test(v)) return { playbook: pb.name, matched: false, reason: `refused: label ${r.name}=${JSON.stringify(v)} does not fit ${r.re.source}` };
  }
  return { playbook: pb.name, matched: true, reason: `all of ${pb.matchers.map((m) => m.text).join(', ')} hold` };
}

export function matchingPlaybooks(playbooks: Playbook[], labels: Record<string, string>): Playbook[] {
  return playbooks.filter((pb) => explainMatch(pb, labels).matched);
}

/** The identity of what a playbook fixes: playbook name plus its target labels' values. */
export function targetOf(pb: Playbook, labels: Record<string, string>): Record<string, string> {
  if (pb.target === null) return { ...labels };
  const t: Record<string, string> = {};
  for (const k of pb.target) if (labels[k] !== undefined) t[k] = labels[k] as string;
  return t;
}

export function targetKey(pb: Playbook, labels: Record<string, string>): string {
  const t = targetOf(pb, labels);
  return `${pb.name}|${Object.keys(t)
    .sort()
    .map((k) => `${k}=${t[k]}`)
    .join(',')}`;
}

export type SkipReason = 'paused' | 'suspended' | 'cooldown' | 'rate_limited' | 'duplicate' | 'out_of_scope';

export interface GateState {
  now: number;
  paused: boolean;
  cooldownUntil: number | undefined;
  suspension: Suspension | undefined;
  /** A run for this playbook and target is in flight. */
  targetBusy: boolean;
  /** Start times (ms) of this playbook's runs, for max_runs. */
  playbookStarts: number[];
  /** Start times (ms) of all runs, for the global per-minute limit. */
  globalStarts: number[];
  maxRunsPerMinute: number;
  /** Emergency mode is on: emergency playbooks skip cooldowns and rate limits (never the pause). */
  emergency?: boolean;
}

/** Whether a run may start now; null when it may, else the reason it is skipped. */
export function gate(pb: Playbook, s: GateState): { reason: SkipReason; detail: string } | null {
  if (s.paused) return { reason: 'paused', detail: 'automation is paused (POST /api/v1/resume to resume)' };
  if (s.suspension && s.suspension.until > s.now) {
    return { reason: 'suspended', detail: `suspended until ${new Date(s.suspension.until).toISOString()} after repeated failures` };
  }
  if (s.targetBusy) return { reason: 'duplicate', detail: 'a run for this playbook and target is already in flight' };
  if (s.emergency && pb.emergency) return null;
  if (s.cooldownUntil !== undefined && s.cooldownUntil > s.now) {
    return { reason: 'cooldown', detail: `cooling down until ${new Date(s.cooldownUntil).toISOString()}` };
  }
  if (pb.maxRuns) {
    const recent = s.playbookStarts.filter((t) => t > s.now - (pb.maxRuns as { windowMs: number }).windowMs).length;
    if (recent >= pb.maxRuns.count) return { reason: 'rate_limited', detail: `max_runs ${pb.maxRuns.count} per window reached` };
  }
  const lastMinute = s.globalStarts.filter((t) => t > s.now - 60_000).length;
  if (lastMinute >= s.maxRunsPerMinute) return { reason: 'rate_limited', detail: `global limit of ${s.maxRunsPerMinute} runs per minute reached` };
  return null;
}

/** Exponential suspension after a flap: suspend * 2^level, capped. */
export function suspensionFor(pb: Playbook, level: number, now: number): number {
  return now + Math.min(pb.flap.suspendMs * 2 ** level, pb.flap.maxSuspendMs);
}

/** Delay before retry attempt n (1-based count of failures so far). */
export function backoffMs(retry: { backoff: 'exponential' | 'constant'; initialMs: number; maxMs: number }, failures: number): number {
  if (retry.backoff === 'constant') return Math.min(retry.initialMs, retry.maxMs);
  return Math.min(retry.initialMs * 2 ** (failures - 1), retry.maxMs);
}

export function templateVarsFor(alert: Alert, pb: Playbook, run: { id: string; strategy: string; mode: string }) {
  return {
    labels: alert.labels,
    annotations: alert.annotations,
    alert: {
      status: alert.status,
      fingerprint: alert.fingerprint,
      startsAt: alert.startsAt,
      endsAt: alert.endsAt,
      category: alert.category,
      severity: alert.severity,
      episode: alert.episode,
      generatorURL: alert.generatorURL,
      alertname: alert.labels.alertname ?? '',
    },
    run: { id: run.id, strategy: run.strategy, mode: run.mode },
    playbook: { name: pb.name, category: pb.category ?? alert.category },
    env: process.env,
  };
}
