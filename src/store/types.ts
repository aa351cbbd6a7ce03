/** What the store persists. Plain data only: the engine and API read it, only the store writes it. */
import type { Firing, LearningStateJSON, Outcome } from '../learning/index.js';
import type { StoredExperiment, TuningStateJSON } from '../tuning/state.js';
import type { TemplateVars } from '../rules/template.js';

export interface EpisodeRecord {
  key: string;
  fingerprint: string;
  alertname: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  status: 'firing' | 'resolved';
  source: 'alertmanager' | 'promedic';
  category: string;
  severity: string;
  firstSeen: string;
  lastSeen: string;
  resolvedAt?: string;
  /** Deliveries of this episode (the first plus every duplicate). */
  deliveries: number;
  /** Set when the alert is outside this promedic's fleet scope: why. Nothing acted on it. */
  outOfScope?: string;
}

export type RunStatus =
  | 'pending'
  | 'running'
  | 'verifying'
  | 'succeeded'
  | 'failed'
  | 'cancelled'
  | 'interrupted'
  | 'planned'; // dry-run / observe: the plan was recorded, nothing executed

export interface StepRecord {
  name: string;
  type: string;
  /** The step as it would run, every template rendered. */
  rendered: unknown;
  startedAt?: string;
  endedAt?: string;
  attempts: number;
  outcome: 'pending' | 'ok' | 'failed' | 'skipped' | 'planned';
  output?: string;
  error?: string;
  /** Whether this step changed something that has an undo. */
  changed?: boolean;
  /**
   * The undo step to run if a later step or the verification fails (or after a crash): `args`
   * rendered with environment references shown by name; a playbook's undo also keeps its
   * `template` and the alert's template variables (no secrets), so it is rendered again, with
   * the real environment, when it runs. `before`: computed before the step ran (an action's
   * undoBefore) and safe to run even if the step never did, so a crash mid-step is undone too.
   */
  undo?: { type: string; args: unknown; name: string; template?: unknown; vars?: Omit<TemplateVars, 'env'>; before?: boolean };
}

export interface RunRecord {
  id: string;
  episode: string;
  playbook: string;
  strategy: string;
  /** Strategies tried before this one in the same run chain. */
  attempt: number;
  mode: 'enforce' | 'dry-run' | 'observe';
  status: RunStatus;
  category: string;
  severity: string;
  alertname: string;
  /** The target's label set (the playbook's `target` labels), for cooldowns and flap protection. */
  target: Record<string, string>;
  receivedAt: string;
  startedAt: string;
  firstActionAt?: string;
  endedAt?: string;
  steps: StepRecord[];
  verification?: { method: string; outcome: 'pending' | 'ok' | 'failed'; detail?: string; at?: string };
  rollback?: StepRecord[];
  error?: string;
  durationSeconds?: number;
  /** The strategy order of the run chain and why (learned from outcomes, or as listed). */
  choice?: { order: string[]; reason: string; learned: boolean };
}

export interface Suspension {
  until: number;
  level: number;
  reason: string;
}

export interface PersistedState {
  version: 2;
  starts: Array<{ at: string; pid: number; version: string }>;
  stops: Array<{ at: string; pid: number }>;
  episodes: EpisodeRecord[];
  runs: RunRecord[];
  /** key (playbook + target) -> unixtime ms until which the playbook cools down. */
  cooldowns: Record<string, number>;
  /** key (playbook + target) -> failure times (ms) within the flap window. */
  failures: Record<string, number[]>;
  suspensions: Record<string, Suspension>;
  paused: boolean;
  /** Runs dropped by retention since the store was created. */
  droppedRuns: number;
  /** Learning aggregates (src/learning): outcomes and firings per playbook and signature. */
  learning?: LearningStateJSON;
  /** Tuning experiments and what they taught per knob (src/tuning/state.ts). */
  tuning?: TuningStateJSON;
}

export type JournalEntry =
  | { op: 'episode'; v: EpisodeRecord }
  | { op: 'run'; v: RunRecord }
  | { op: 'cooldown'; k: string; until: number }
  | { op: 'failures'; k: string; v: number[] }
  | { op: 'suspension'; k: string; v: Suspension | null }
  | { op: 'paused'; v: boolean }
  /** A strategy run that ended verified or failed: learning evidence. */
  | { op: 'outcome'; v: Outcome }
  /** A new episode matched by a playbook: recurrence evidence. */
  | { op: 'firing'; v: Firing }
  /** Chronic signatures that went quiet are cleared as of this time. */
  | { op: 'sweep'; at: number }
  /** A tuning experiment's record, at each phase (the last one, done, updates the knob's memory). */
  | { op: 'experiment'; v: StoredExperiment };
