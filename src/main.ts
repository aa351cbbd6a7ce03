/**
 * Composition root: builds the context, starts the parts in dependency order, and stops
 * them in reverse. No part reaches for another except through the context.
 */
import { type Identity, fleetProblems, identityOf } from './scope.js';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { type Config, learningOptions } from './config.js';
import type { Context } from './context.js';
import { ConfigError } from './errors.js';
import { createApp, createMetricsHandler, isMetrics } from './http/app.js';
import { createInstrument } from './http/instrument.js';
import { createWebhookHandler, isWebhook } from './http/routes/webhook.js';
import { COLLECTORS } from './metrics/collectors/index.js';
import { HostMetrics, collectorOptions } from './metrics/host.js';
import { createRegistry } from './metrics/registry.js';
import { Store } from './store/index.js';
import { Engine } from './engine/engine.js';
import { Escalator } from './engine/escalation.js';
import { createRng } from './learning/index.js';
import { Intake } from './intake/index.js';
import { RuleManager } from './rules/index.js';
import { Monitor } from './monitor/monitor.js';
import { TargetScraper } from './monitor/targets.js';
import { Tuner } from './tuning/tuner.js';
import { EventEmitter } from 'node:events';
import { coordinate } from './coordination.js';
import type { Bus, PromedicEvents } from './events.js';
import { Systems } from './systems.js';
import { describeSystem } from './status.js';
import { parseDuration } from './util/duration.js';
import { randomInt } from 'node:crypto';
import { hostname } from 'node:os';
import { VERSION } from './version.js';

export interface Service {
  readonly ctx: Context;
  readonly server: Server;
  /** The bound address, with the real port when the config asked for port 0. */
  readonly address: { address: string; port: number };
  readonly url: string;
  /** Graceful stop: stop accepting, finish in-flight requests, stop collecting, flush the store. */
  stop(): Promise<void>;
  /** Reloads the rules (SIGHUP, POST /-/reload); returns the problems, empty on success. */
  reload(): string[];
}

function listen(server: Server, config: Config): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      const where = `${config.listen.address}:${config.listen.port}`;
      const src = config.sources['listen.port'] ?? 'defaults';
      if (err.code === 'EADDRINUSE') reject(new ConfigError([`${src}: listen.port: ${where} is already in use`]));
      else if (err.code === 'EACCES') reject(new ConfigError([`${src}: listen.port: permission denied to listen on ${where}`]));
      else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN')
        reject(new ConfigError([`${config.sources['listen.address'] ?? 'defaults'}: listen.address: cannot listen on ${where}: ${err.code}`]));
      else reject(err);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(config.listen.port, config.listen.address);
  });
}

export async function startService(config: Config, logger: Logger): Promise<Service> {
  const log = logger.child({ component: 'main' });
  const registry = createRegistry();
  const l = config.learning;
  const learning = learningOptions(config);
  const store = new Store(config.data_dir, {
    maxRuns: config.history.max_runs,
    episodeRetentionMs: config.episodeRetentionMs,
    maxEpisodes: config.history.max_episodes,
    learning,
  });
  await store.open(VERSION);
  for (const n of store.notices) log.error({ notice: n }, 'store');
  if (config.engine.paused && !store.mem.paused) await store.commit([{ op: 'paused', v: true }]);

  const rules = new RuleManager(config.rules_dir, logger, registry, config.monitor.overrides);
  // Who this promedic is in a fleet; the port is known once bound (below).
  const identity: Identity = identityOf(config);
  const scope = { identity, global: config.scope };
  rules.check = (r) => fleetProblems(r.playbooks, { identity, scope: config.scope, fleet: config.fleet.enabled });
  const ruleErrors = rules.reload();
  if (ruleErrors.length) {
    // At start there are no previous rules to keep: refuse to run with a broken rules dir.
    await store.close();
    throw new ConfigError(ruleErrors);
  }
  const escalator = config.alertmanager.url
    ? new Escalator({ url: config.alertmanager.url, logger, registry })
    : null;
  const events: Bus = new EventEmitter<PromedicEvents>();
  const engine = new Engine({
    escalator,
    learning: { enabled: l.enabled, rng: createRng(l.seed ?? randomInt(2 ** 47)) },
    store,
    logger,
    registry,
    playbooks: () => rules.current.playbooks,
    maxRunsPerMinute: config.engine.max_runs_per_minute,
    maxInFlight: config.engine.max_in_flight,
    dryRun: config.engine.dry_run,
    defaultMode: config.automation.mode,
    prometheusUrl: config.prometheus.url ?? null,
    emergencySeverities: config.emergency.severities,
    emergencyNotifyUrl: config.emergency.notify_url ?? null,
    // The coordination exists by the time a run starts (it is built below, before anything listens).
    beforeHealing: (pb, labels) => coordination?.beforeHealing(pb, labels) ?? Promise.resolve(),
    events,
    scope,
  });
  const intake = new Intake(store, engine, () => rules.current, logger, registry, scope);
  const monitor = new Monitor({
    rules: config.monitor.enabled ? rules.current.monitors : [],
    // Known once the port is bound; a placeholder until then (no cycle runs before).
    instance: identity.instance,
    logger,
    registry,
    intervalMs: config.intervalMs,
    send: (alerts) => intake.receive(alerts),
    ...(config.monitor.defer_to_alertmanager
      ? {
          deferTo: (labels: Record<string, string>) =>
            // Only an alert about this host (in scope): another host's alert of the same name says nothing about this one.
            [...store.mem.episodes.values()].some((e) => e.status === 'firing' && e.source === 'alertmanager' && !e.outOfScope && e.alertname === labels.alertname),
        }
      : {}),
  });
  const tuner = new Tuner({
    store,
    logger,
    registry,
    playbooks: () => rules.current.tuning,
    prometheusUrl: config.prometheus.url ?? null,
    monitor,
    dryRun: config.engine.dry_run,
    defaultMode: config.automation.mode,
    engine,
    events,
  });
  // The rules between the parts subscribe to the bus (src/coordination.ts).
  const coordination = config.systems.tuner ? coordinate({ events, engine, tuner, tuning: () => rules.current.tuning, logger }) : null;
  rules.onReload = (r) => {
    monitor.setRules(config.monitor.enabled ? r.monitors : []);
    if (config.systems.tuner) tuner.sync();
  };
  const targets = new TargetScraper(
    config.targets.map((t) => ({ name: t.name, url: t.url, intervalMs: t.interval ? parseDuration(t.interval) : config.intervalMs })),
    (target, families, t) => monitor.ingest(families, t, { service: target.name }),
    logger,
    registry,
  );

  const disabled = new Set(config.collection.disable);
  const host = new HostMetrics({
    collectors: COLLECTORS.filter((c) => !disabled.has(c.name)),
    options: collectorOptions(config),
    intervalMs: config.intervalMs,
    timeoutMs: config.timeoutMs,
    logger,
    registry,
    followScrapes: config.collection.follow_scrapes,
    wanted: (name) => config.monitor.enabled && monitor.store.wants(name),
    onCycle: (families, t) => {
      monitor.ingest(families, t);
      void monitor.evaluate(t);
    },
  });

  // The parts as systems, in dependency order: started in this order, stopped in reverse.
  const systems = new Systems({ logger, registry });
  const noop = async (): Promise<void> => undefined;
  const describe = (name: Parameters<typeof describeSystem>[1]) => () => describeSystem(ctx, name);
  systems
    // Opened above (the rules and the engine need it) and closed last by stop().
    .add({ name: 'store', start: noop, stop: noop, status: describe('store') })
    .add({ name: 'collector', start: () => host.start(), stop: () => host.stop(), status: describe('collector'), stalled: () => host.stalled(), restart: () => host.restart() }, config.systems.collector)
    .add({ name: 'targets', start: async () => targets.start(), stop: async () => targets.stop(), status: describe('targets') }, config.systems.targets)
    .add({ name: 'monitor', start: noop, stop: noop, status: describe('monitor') }, config.monitor.enabled)
    .add({ name: 'intake', start: noop, stop: noop, status: describe('intake') })
    .add({ name: 'engine', start: async () => void (await engine.recover()), stop: () => engine.stop(), status: describe('engine') })
    .add(
      {
        name: 'tuner',
        start: async () => {
          await tuner.recover();
          tuner.sync();
        },
        stop: () => tuner.stop(),
        status: describe('tuner'),
      },
      config.systems.tuner,
    )
    .add({ name: 'learner', start: async () => engine.startLearning(), stop: async () => engine.stopLearning(), status: describe('learner') }, config.learning.enabled);

  const ctx: Context = { config, logger, registry, store, host, rules, engine, tuner, intake, monitor, targets, systems, identity, startedAt: Date.now(), now: Date.now };
  let stopping = false;
  const track = createInstrument(ctx);
  // Ready: listening, not stopping, the first collection cycle done (when collecting), the store writable.
  const ready = (): string[] => {
    const why: string[] = [];
    if (stopping) why.push('stopping');
    if (config.systems.collector && host.cycles === 0) why.push('collector: no collection cycle yet');
    for (const [name, st] of Object.entries(systems.statuses())) if (st.state === 'down' && (name !== 'collector' || host.cycles > 0)) why.push(`${name}: ${st.detail}`);
    return why;
  };
  const app = createApp(ctx, { ready, track });
  const webhook = createWebhookHandler(ctx, track);
  const metrics = createMetricsHandler(ctx, track);
  const { createServer } = await import('node:http');
  // The two hot paths, scrapes and the webhook, are served in front of express; the rest by the app.
  const server = createServer((req, res) => (isMetrics(req) ? metrics(req, res) : isWebhook(req) ? webhook(req, res) : app(req, res)));
  // Alertmanager and Prometheus keep connections alive; stay above their idle timeouts.
  server.keepAliveTimeout = 65_000;

  // Collect before listening completes readiness; the server answers /-/healthy meanwhile.
  try {
    await listen(server, config);
  } catch (err) {
    await store.close();
    throw err;
  }
  const bound = server.address() as AddressInfo;
  if (!config.instance) {
    identity.instance = `${hostname()}:${bound.port}`;
    monitor.instance = identity.instance;
  }
  const url = `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
  try {
    await systems.startAll();
    systems.supervise();
  } catch (err) {
    server.close();
    await store.close();
    throw err;
  }

  if (!config.token && !config.basic) {
    log.warn(
      { address: config.listen.address },
      'no credentials configured (auth.token / PROMEDIC_TOKEN / auth.token_file / auth.basic): listening on loopback only',
    );
  }
  log.info(
    {
      version: VERSION,
      url,
      data_dir: config.data_dir,
      rules_dir: config.rules_dir,
      playbooks: rules.current.playbooks.length,
      paused: engine.paused,
      dry_run: config.engine.dry_run,
      interval: config.collection.interval,
      config_file: config.configFile,
    },
    'promedic started',
  );

  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      stopping = true;
      log.info('stopping: finishing in-flight requests');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const force = setTimeout(() => {
        log.warn({ timeout: config.http.shutdown_timeout }, 'in-flight requests did not finish in time; closing them');
        server.closeAllConnections();
      }, config.shutdownTimeoutMs);
      force.unref();
      await closed;
      clearTimeout(force);
      await systems.stopAll();
      coordination?.off();
      escalator?.stop();
      await store.close();
      log.info('stopped');
    })();
    return stopped;
  };

  return { ctx, server, address: { address: bound.address, port: bound.port }, url, stop, reload: () => rules.reload() };
}
