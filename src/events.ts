/**
 * The events promedic's parts tell each other, on one bus: the engine and the tuner emit, and
 * the coordination rules (src/coordination.ts) subscribe. Listeners must not throw.
 */
import type { EventEmitter } from 'node:events';
import type { Alert } from './alert.js';
import type { RunRecord } from './store/types.js';
import type { StoredExperiment } from './tuning/state.js';

export interface PromedicEvents {
  /** A new firing episode arrived (after the healing playbooks were admitted). */
  firing: [alert: Alert];
  /** An episode resolved. */
  resolved: [episode: string];
  /** A healing run is starting for this alert. */
  healing: [playbook: string, labels: Record<string, string>];
  /** A strategy run ended: succeeded, failed, cancelled, interrupted or planned. */
  run: [run: RunRecord];
  /** Emergency mode was entered (the alert that started it). */
  emergency: [alertname: string];
  /** Emergency mode was left (the last emergency alert resolved). */
  emergency_over: [alertname: string];
  /** Automation was paused (true) or resumed (false). */
  paused: [paused: boolean];
  /** A playbook's signature turned chronic; `preventive` is its on_chronic playbook, if any. */
  chronic: [event: { playbook: string; signature: string; alert: Alert; preventive: string | null }];
  /** A tuning experiment ended. */
  experiment: [experiment: StoredExperiment];
}

export type Bus = EventEmitter<PromedicEvents>;
