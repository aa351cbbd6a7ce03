import { type Request, type Response, Router } from 'express';
import type { Context } from '../../context.js';
import { PromedicError } from '../../errors.js';
import type { RunRecord } from '../../store/types.js';
import { explainLearning } from '../../engine/explain.js';
import { chronicSignatures } from '../../learning/index.js';
import { buildStatus } from '../../status.js';
import { effectiveMode } from '../../mode.js';

function param(req: Request, name: string): string | undefined {
  const v = req.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new PromedicError('invalid_query', `${name}: must be given once`, { status: 400 });
  return v;
}

function intParam(req: Request, name: string, def: number, min: number, max: number): number {
  const v = param(req, name);
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new PromedicError('invalid_query', `${name}: must be an integer from ${min} to ${max}`, { status: 400 });
  return n;
}

const STATUSES = ['pending', 'running', 'verifying', 'succeeded', 'failed', 'cancelled', 'interrupted', 'planned'];

/** The status API: runs, playbooks, pause/resume, reload. */
export function apiRoutes(ctx: Context): Router {
  const r = Router();

  r.get('/api/v1/status', (req: Request, res: Response) => {
    res.json(buildStatus(ctx, intParam(req, 'recent', 10, 1, 100)));
  });

  r.get('/api/v1/runs', (req: Request, res: Response) => {
    const playbook = param(req, 'playbook');
    const status = param(req, 'status');
    if (status !== undefined && !STATUSES.includes(status)) {
      throw new PromedicError('invalid_query', `status: must be one of ${STATUSES.join(', ')}`, { status: 400 });
    }
    const sinceRaw = param(req, 'since');
    const since = sinceRaw === undefined ? undefined : Date.parse(sinceRaw);
    if (since !== undefined && Number.isNaN(since)) throw new PromedicError('invalid_query', 'since: must be an RFC 3339 time', { status: 400 });
    const limit = intParam(req, 'limit', 50, 1, 500);
    const offset = intParam(req, 'offset', 0, 0, 1_000_000);
    const all: RunRecord[] = [];
    for (const run of ctx.store.mem.runs.values()) {
      if (playbook !== undefined && run.playbook !== playbook) continue;
      if (status !== undefined && run.status !== status) continue;
      if (since !== undefined && Date.parse(run.startedAt) < since) continue;
      all.push(run);
    }
    all.reverse(); // newest first
    const page = all.slice(offset, offset + limit);
    res.json({ total: all.length, offset, limit, next_offset: offset + limit < all.length ? offset + limit : null, runs: page });
  });

  r.get('/api/v1/learning', (req: Request, res: Response) => {
    const playbook = param(req, 'playbook');
    const signature = param(req, 'signature');
    const limit = intParam(req, 'limit', 100, 1, 10_000);
    const state = ctx.store.mem.learning;
    const playbooks = explainLearning(state, ctx.rules.current.playbooks, ctx.config.learning.enabled, {
      ...(playbook !== undefined ? { playbook } : {}),
      ...(signature !== undefined ? { signature } : {}),
      limit,
    });
    res.json({
      enabled: ctx.config.learning.enabled,
      signatures: state.entries.size,
      forgotten: state.evicted,
      chronic: chronicSignatures(state).map((c) => ({ playbook: c.playbook, signature: c.signature, since: new Date(c.since).toISOString() })),
      playbooks,
    });
  });

  r.get('/api/v1/runs/:id', (req: Request, res: Response) => {
    const run = ctx.store.mem.runs.get(String(req.params.id));
    if (!run) throw new PromedicError('not_found', `no run ${req.params.id}`, { status: 404 });
    res.json(run);
  });

  r.get('/api/v1/playbooks', (_req: Request, res: Response) => {
    const now = Date.now();
    const stats = new Map<string, Record<string, number>>();
    for (const run of ctx.store.mem.runs.values()) {
      const s = stats.get(run.playbook) ?? {};
      s[run.status] = (s[run.status] ?? 0) + 1;
      stats.set(run.playbook, s);
    }
    const playbooks = ctx.rules.current.playbooks.map((pb) => {
      const suspended: Array<{ target: string; until: string; reason: string }> = [];
      const cooling: Array<{ target: string; until: string }> = [];
      for (const [k, s] of ctx.store.mem.suspensions) if (k.startsWith(`${pb.name}|`) && s.until > now) suspended.push({ target: k.slice(pb.name.length + 1), until: new Date(s.until).toISOString(), reason: s.reason });
      for (const [k, until] of ctx.store.mem.cooldowns) if (k.startsWith(`${pb.name}|`) && until > now) cooling.push({ target: k.slice(pb.name.length + 1), until: new Date(until).toISOString() });
      return {
        name: pb.name,
        description: pb.description,
        source: pb.source,
        mode: effectiveMode(pb.mode, ctx.config),
        emergency: pb.emergency,
        category: pb.category ?? null,
        match: pb.matchers.map((m) => m.text),
        strategies: pb.strategies.map((s) => ({ name: s.name, risk: s.risk, steps: s.steps.map((st) => `${st.type}: ${st.name}`) })),
        state: ctx.engine.paused ? 'paused' : suspended.length ? 'suspended' : cooling.length ? 'cooling_down' : 'active',
        suspended,
        cooling_down: cooling,
        stats: stats.get(pb.name) ?? {},
      };
    });
    res.json({ paused: ctx.engine.paused, emergency: ctx.engine.emergency, rules_errors: ctx.rules.lastErrors, playbooks });
  });

  r.get('/api/v1/alerts', (_req: Request, res: Response) => {
    const episodes = [...ctx.store.mem.episodes.values()].filter((e) => e.status === 'firing');
    res.json({ emergency: ctx.engine.emergency, monitor: ctx.monitor.active(), firing_episodes: episodes });
  });

  r.get('/api/v1/tuning', (req: Request, res: Response) => {
    const target = param(req, 'target');
    const knob = param(req, 'knob');
    const playbook = param(req, 'playbook');
    const limit = intParam(req, 'limit', 50, 1, 500);
    const now = Date.now();
    const t = ctx.store.mem.tuning;
    const pbs = ctx.rules.current.tuning;
    const running = new Map(ctx.tuner.runningNow().map((e) => [e.id, e]));
    const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
    const knobs = [];
    // Every knob a loaded playbook names, then any remembered from playbooks no longer loaded.
    const keys = new Map<string, { target: string; knob: string; playbooks: string[]; cooldownMs: number | null; forgetMs: number | null }>();
    for (const pb of pbs) {
      for (const k of pb.knobs) {
        const key = `${pb.target}\u0000${k.name}`;
        const e = keys.get(key) ?? { target: pb.target, knob: k.name, playbooks: [], cooldownMs: pb.cooldownMs, forgetMs: pb.forgetRejectedMs };
        e.playbooks.push(pb.name);
        keys.set(key, e);
      }
    }
    for (const st of t.knobs.values()) {
      const key = `${st.target}\u0000${st.knob}`;
      if (!keys.has(key)) keys.set(key, { target: st.target, knob: st.knob, playbooks: [], cooldownMs: null, forgetMs: null });
    }
    for (const [key, k] of keys) {
      if ((target !== undefined && k.target !== target) || (knob !== undefined && k.knob !== knob)) continue;
      if (playbook !== undefined && !k.playbooks.includes(playbook)) continue;
      const st = t.knobs.get(key);
      const live = [...running.values()].find((e) => e.target === k.target && e.knob === k.knob);
      const cooldownUntil = st?.lastChangeAt !== undefined && k.cooldownMs !== null ? st.lastChangeAt + k.cooldownMs : undefined;
      knobs.push({
        target: k.target,
        knob: k.knob,
        playbooks: k.playbooks,
        current: live ? (live.phase === 'applying' || live.phase === 'settling' || live.phase === 'measuring' ? live.to : live.from) : (st?.current ?? null),
        baseline: st?.baseline ?? null,
        best: st?.best ? { ...st.best, at: iso(st.best.at) } : null,
        original: st?.original ?? null,
        last_change_at: iso(st?.lastChangeAt),
        cooldown_until: cooldownUntil !== undefined && cooldownUntil > now ? iso(cooldownUntil) : null,
        rejected: Object.entries(st?.rejected ?? {})
          .filter(([, at]) => k.forgetMs === null || at >= now - k.forgetMs)
          .map(([v, at]) => ({ value: JSON.parse(v) as unknown, at: iso(at) })),
        kept: (st?.kept ?? []).map((v) => ({ ...v, at: iso(v.at) })),
        experiments: st?.experiments ?? 0,
        running: live ? live.id : null,
      });
    }
    const all = [...t.experiments.values()]
      .map((e) => running.get(e.id) ?? e)
      .filter((e) => (target === undefined || e.target === target) && (knob === undefined || e.knob === knob) && (playbook === undefined || e.playbook === playbook));
    all.reverse();
    res.json({
      paused: ctx.engine.paused,
      emergency: ctx.engine.emergency,
      playbooks: pbs
        .filter((pb) => playbook === undefined || pb.name === playbook)
        .map((pb) => ({
          name: pb.name,
          description: pb.description,
          source: pb.source,
          target: pb.target,
          mode: effectiveMode(pb.mode, ctx.config),
          match: pb.matchers.map((m) => m.text),
          schedule_seconds: pb.scheduleMs === null ? null : pb.scheduleMs / 1000,
          knobs: pb.knobs.map((k) => k.name),
          objective: { name: pb.objective.name, direction: pb.objective.direction },
          guards: pb.guards.map((g) => g.name),
        })),
      knobs,
      total: all.length,
      experiments: all.slice(0, limit),
    });
  });

  r.post('/api/v1/tuning/:playbook/run', async (req: Request, res: Response) => {
    const name = String(req.params.playbook);
    if (!ctx.rules.current.tuning.some((pb) => pb.name === name)) {
      throw new PromedicError('not_found', `no tuning playbook "${name}" (loaded: ${ctx.rules.current.tuning.map((pb) => pb.name).join(', ') || 'none'})`, { status: 404 });
    }
    // Starts the run and answers at once: an experiment takes minutes. Its progress is in GET /api/v1/tuning.
    const started = ctx.tuner.trigger(name, { kind: 'manual' });
    const early = await Promise.race([started, new Promise<null>((r) => setTimeout(() => r(null), 50))]);
    if (early?.skipped) {
      res.status(409).json({ error: { code: 'not_started', message: early.skipped } });
      return;
    }
    res.status(202).json({ status: 'started', playbook: name });
  });

  r.post('/api/v1/pause', async (_req: Request, res: Response) => {
    await ctx.engine.setPaused(true);
    res.json({ paused: true });
  });
  r.post('/api/v1/resume', async (_req: Request, res: Response) => {
    await ctx.engine.setPaused(false);
    res.json({ paused: false });
  });

  r.post('/-/reload', (_req: Request, res: Response) => {
    const errors = ctx.rules.reload();
    if (errors.length) {
      res.status(400).json({ error: { code: 'invalid_rules', message: 'rules not reloaded; the previous rules stay active', problems: errors } });
      return;
    }
    res.json({ status: 'reloaded', playbooks: ctx.rules.current.playbooks.length });
  });
  return r;
}
