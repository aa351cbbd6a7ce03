/**
 * The rules between the parts, as subscribers to the event bus (src/events.ts) rather than
 * calls from one part into another:
 *
 * - a matching alert triggers the tuning playbooks it matches;
 * - a healing run on a target stops the tuning experiment there, and acts only once the knob is
 *   back (the one rule that must be awaited: the engine calls `beforeHealing` before it acts);
 * - an emergency, or the pause, stops every experiment (and none starts until it is over);
 * - a chronic signature whose playbook names a tuning playbook in on_chronic starts that tuning
 *   playbook once no healing run on its target is queued or running (the healing goes first).
 */
import type { Logger } from 'pino';
import type { Engine } from './engine/engine.js';
import type { Bus, PromedicEvents } from './events.js';
import { firstMismatch } from './rules/matcher.js';
import type { TuningPlaybook } from './rules/tuning.js';
import type { Tuner } from './tuning/tuner.js';

export interface CoordinationOptions {
  events: Bus;
  engine: Pick<Engine, 'healingOn'>;
  tuner: Pick<Tuner, 'onFiring' | 'onHealing' | 'abortAll' | 'trigger'>;
  tuning: () => TuningPlaybook[];
  logger: Logger;
  /** How long a chronic trigger waits for the healing on its target before it gives up (default 10 min). */
  maxWaitMs?: number;
  /** How often it looks whether the target is still being healed (default 500 ms). */
  pollMs?: number;
}

export interface Coordination {
  /** For the engine's beforeHealing: stop the experiment on the run's target and wait for its rollback. */
  beforeHealing(playbook: string, labels: Record<string, string>): Promise<void>;
  /** Removes every subscription. */
  off(): void;
}

export function coordinate(o: CoordinationOptions): Coordination {
  const log = o.logger.child({ component: 'coordination' });
  const maxWaitMs = o.maxWaitMs ?? 600_000;
  const pollMs = o.pollMs ?? 500;
  const waiting = new Set<() => void>();

  const onFiring = (...[alert]: PromedicEvents['firing']) => o.tuner.onFiring(alert);
  const onEmergency = (...[name]: PromedicEvents['emergency']) => o.tuner.abortAll(`emergency mode entered (${name})`);
  const onPaused = (...[paused]: PromedicEvents['paused']) => {
    if (paused) o.tuner.abortAll('automation paused');
  };
  const onChronic = (...[c]: PromedicEvents['chronic']) => {
    const pb = c.preventive ? o.tuning().find((t) => t.name === c.preventive) : undefined;
    if (!pb) return;
    const concerns = (labels: Record<string, string>) => !firstMismatch(pb.targetMatchers, labels);
    const deadline = Date.now() + maxWaitMs;
    log.info({ playbook: c.playbook, signature: c.signature, tuning: pb.name }, 'chronic signature: the tuning playbook starts once the healing is done');
    // Checked now and then every pollMs: a run's end is not the end of its job (the next
    // strategy may follow), so the engine's own view decides.
    const attempt = () => {
      const healing = o.engine.healingOn(concerns);
      if (healing !== null && Date.now() < deadline) return false;
      if (healing !== null) {
        log.warn({ tuning: pb.name, healing }, 'chronic trigger dropped: the target was still being healed after the wait');
        return true;
      }
      void o.tuner.trigger(pb.name, { kind: 'chronic', playbook: c.playbook, signature: c.signature });
      return true;
    };
    const timer = setInterval(() => {
      if (!attempt()) return;
      clearInterval(timer);
      waiting.delete(stop);
    }, pollMs);
    const stop = () => clearInterval(timer);
    waiting.add(stop);
  };
  o.events.on('firing', onFiring);
  o.events.on('emergency', onEmergency);
  o.events.on('paused', onPaused);
  o.events.on('chronic', onChronic);
  return {
    beforeHealing: (playbook, labels) => o.tuner.onHealing(playbook, labels),
    off() {
      o.events.off('firing', onFiring);
      o.events.off('emergency', onEmergency);
      o.events.off('paused', onPaused);
      o.events.off('chronic', onChronic);
      for (const stop of waiting) stop();
      waiting.clear();
    },
  };
}
