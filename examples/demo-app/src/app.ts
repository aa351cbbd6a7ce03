/**
 * The demo app: a small service with a cache, a database pool and an upstream, whose faults
 * can be injected (/fault) and whose admin endpoints (/admin) fix them. createDemoApp builds
 * it without listening; attach() it to the HTTP server that listens, then start() it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type ErrorRequestHandler, type NextFunction, type Request, type Response } from 'express';
import { pino, type Logger } from 'pino';
import type { Registry } from 'prom-client';
import { FakeDb, FakeUpstream, type DbState } from './backends.js';
import { ItemCache, MiB, ownBuffer } from './cache.js';
import { applyConfigPatch, DEFAULT_CONFIG, DemoError, parseFields, type DemoConfig, type FieldSpec } from './config.js';
import { ConnectionHolder, ConnectionTracker, type Target } from './connections.js';
import { Limiter } from './limiter.js';
import { LoadGenerator, type LoadStats } from './load.js';
import { createMetrics, FAULT_KINDS, type FaultKind } from './metrics.js';
import { checkOrder, processOrder, sanitizeOrder } from './orders.js';

export interface DemoAppOptions {
  /** Bearer token for /admin; unset or empty disables the admin endpoints (503). */
  adminToken?: string | null;
  /** The memory budget reported as app_memory_limit_bytes (default 256). */
  memoryLimitMb?: number;
  /** Initial knobs, checked like PUT /admin/config. */
  config?: Partial<DemoConfig>;
  /** Seed for the fault and load randomness, for repeatable runs (default: unseeded). */
  seed?: number;
  /** How long a cached item list stays fresh (default 10 s). */
  cacheTtlMs?: number;
  /** Most requests the load generator has in flight at once (default 32). */
  loadMaxOutstanding?: number;
  logger?: Logger;
}

export interface LatencyFault {
  ms: number;
  above_concurrency: number;
}
export interface ErrorsFault {
  ratio: number;
  mode: 'transient' | 'permanent';
}
export interface ValidationFault {
  ratio: number;
}

/** A snapshot of what the app is doing, for tests and experiments. */
export interface DemoState {
  config: DemoConfig;
  faults: Partial<Record<FaultKind, Record<string, unknown>>>;
  cache: { bytes: number; entries: number; max_bytes: number; leaked_bytes: number; hits: number; misses: number };
  db: { state: DbState; pool_size: number; pool_in_use: number; pool_waiting: number };
  connections: { open: number; held_by_fault: number };
  requests: { in_flight_api: number; waiting_for_slot: number };
  memory: { used_bytes: number; limit_bytes: number };
  load: (LoadStats & { rps: number }) | null;
}

export interface DemoApp {
  app: express.Express;
  registry: Registry;
  readonly state: DemoState;
  /** The server the app is mounted on: counts its connections, and is the target of the load and the connections fault. */
  attach(server: Server): void;
  /** Starts the load generator (`load` requests per second, 0 for none); the attached server must be listening. */
  start(opts?: { load?: number }): void;
  /** Stops the load, timers and held connections, fails queued requests with 503 and frees leaked memory. */
  close(): void;
}

const FAULT_FIELDS: Record<FaultKind, Record<string, FieldSpec>> = {
  latency: { ms: { kind: 'int', min: 0, max: 60_000 }, above_concurrency: { kind: 'int', min: 0, max: 1024 } },
  errors: { ratio: { kind: 'number', min: 0, max: 1 }, mode: { kind: 'enum', values: ['transient', 'permanent'] } },
  memory: { mb: { kind: 'number', min: 0.1, max: 4096 } },
  connections: { count: { kind: 'int', min: 1, max: 1000 } },
  db: { mode: { kind: 'enum', values: ['broken', 'down'] } },
  validation: { ratio: { kind: 'number', min: 0, max: 1 } },
};

/** A small seeded generator (mulberry32), so a seeded run makes the same choices. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sameSecret(a: string, b: string): boolean {
  // Hashed first so the comparison takes the same time whatever the lengths.
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/** The route pattern ("/fault/:kind"), never the raw URL, so label cardinality stays bounded. */
function routeLabel(req: Request): string {
  const route = (req as Request & { route?: { path?: unknown } }).route;
  if (route && typeof route.path === 'string') return `${req.baseUrl}${route.path}`;
  return 'unmatched';
}

function itemsPayload(n: number): string {
  const items = Array.from({ length: n }, (_, i) => ({
    id: i + 1,
    name: `widget-${i + 1}`,
    price: Math.round(((i * 37) % 1000) + 99) / 100,
    stock: (i * 13) % 50,
  }));
  return JSON.stringify({ items, count: n });
}

export function createDemoApp(options: DemoAppOptions = {}): DemoApp {
  const log = options.logger ?? pino({ level: 'silent' });
  const adminToken = options.adminToken ? options.adminToken : null;
  const memoryLimitBytes = (options.memoryLimitMb ?? 256) * MiB;
  const random = options.seed === undefined ? Math.random : seededRandom(options.seed);
  let config: DemoConfig = applyConfigPatch({ ...DEFAULT_CONFIG }, options.config ?? {});

  let latencyFault: LatencyFault | null = null;
  let errorsFault: ErrorsFault | null = null;
  let validationFault: ValidationFault | null = null;

  const cache = new ItemCache(config.cache_size_mb * MiB, options.cacheTtlMs ?? 10_000);
  const tracker = new ConnectionTracker();
  const holder = new ConnectionHolder();
  const slots = new Limiter(config.concurrency, 'a concurrency slot');
  let server: Server | null = null;
  let load: LoadGenerator | null = null;
  let loadRps = 0;
  let closed = false;

  const memoryUsed = (): number => {
    const m = process.memoryUsage();
    return Math.max(m.heapUsed, m.heapUsed + m.external - cache.released.pending(m.external));
  };

  let db: FakeDb;
  const metrics = createMetrics({
    config: () => config,
    activeConnections: () => tracker.open,
    cache: () => ({ bytes: cache.sizeBytes, entries: cache.entryCount, maxBytes: cache.limitBytes }),
    memory: () => ({ used: memoryUsed(), limit: memoryLimitBytes }),
    dbConnected: () => db.state === 'up',
    faultActive: (kind) => faultActive(kind),
  });

  // The latency fault: DB queries wait while it is in effect, and stop waiting as soon as it is not.
  const contended = new Set<() => void>();
  const latencyInEffect = (): boolean => latencyFault !== null && config.concurrency > latencyFault.above_concurrency;
  const contention = (): Promise<void> => {
    if (!latencyInEffect() || !latencyFault || latencyFault.ms === 0) return Promise.resolve();
    const ms = latencyFault.ms;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        contended.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      contended.add(done);
    });
  };
  const recheckContention = (): void => {
    if (latencyInEffect() && !closed) return;
    for (const done of [...contended]) done();
  };

  db = new FakeDb(config.pool_size, {
    timeoutMs: () => config.timeout_ms,
    batchSize: () => config.batch_size,
    contention,
    onConnectionError: () => metrics.dbConnectionErrors.inc(),
    observe: (operation, seconds) => metrics.dbQueryDuration.observe({ operation }, seconds),
  });
  const upstream = new FakeUpstream({
    retries: () => config.retries,
    fails: () => errorsFault !== null && random() < errorsFault.ratio,
    onError: () => metrics.upstreamErrors.inc(),
  });

  let cleanupTimer: NodeJS.Timeout | null = null;
  const scheduleCleanup = (): void => {
    if (cleanupTimer) clearInterval(cleanupTimer);
    cleanupTimer = setInterval(() => cache.sweep(), config.cleanup_interval_ms);
    cleanupTimer.unref();
  };
  scheduleCleanup();

  function faultActive(kind: FaultKind): boolean {
    switch (kind) {
      case 'latency':
        return latencyFault !== null;
      case 'errors':
        return errorsFault !== null;
      case 'memory':
        return cache.leakedBytes > 0;
      case 'connections':
        return holder.count > 0;
      case 'db':
        return db.state !== 'up';
      case 'validation':
        return validationFault !== null;
    }
  }

  function faultDetails(kind: FaultKind): Record<string, unknown> | null {
    if (!faultActive(kind)) return null;
    switch (kind) {
      case 'latency':
        return { ...latencyFault, in_effect: latencyInEffect() };
      case 'errors':
        return { ...errorsFault };
      case 'memory':
        return { mb: cache.leakedBytes / MiB };
      case 'connections':
        return { count: holder.count };
      case 'db':
        return { mode: db.state };
      case 'validation':
        return { ...validationFault };
    }
  }

  const activeFaults = (): DemoState['faults'] => {
    const out: DemoState['faults'] = {};
    for (const kind of FAULT_KINDS) {
      const d = faultDetails(kind);
      if (d) out[kind] = d;
    }
    return out;
  };

  const runGc = (): boolean => {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (typeof gc !== 'function') return false;
    gc();
    return true;
  };

  /** Where the app listens, as a client reaches it (the wildcard address becomes loopback). */
  const target = (): Target => {
    const addr = server?.address();
    if (!addr || typeof addr === 'string') throw new DemoError(409, 'not_listening', 'the app is not listening on a TCP port');
    const a = addr as AddressInfo;
    const host = a.address === '0.0.0.0' || a.address === '::' ? '127.0.0.1' : a.address;
    return { host, port: a.port };
  };

  async function inject(kind: FaultKind, body: unknown): Promise<Record<string, unknown>> {
    const p = parseFields(body, FAULT_FIELDS[kind], `${kind} fault`, 'invalid_fault');
    switch (kind) {
      case 'latency':
        latencyFault = { ms: (p.ms as number | undefined) ?? 3000, above_concurrency: (p.above_concurrency as number | undefined) ?? 4 };
        break;
      case 'errors':
        errorsFault = { ratio: (p.ratio as number | undefined) ?? 0.5, mode: (p.mode as ErrorsFault['mode'] | undefined) ?? 'transient' };
        break;
      case 'memory': {
        let bytes: number;
        if (p.mb !== undefined) bytes = (p.mb as number) * MiB;
        else {
          // Enough to bring the app to 95% of its budget, whatever it uses already.
          const baseline = memoryUsed() - cache.leakedBytes;
          bytes = Math.max(16 * MiB, Math.ceil((0.95 * memoryLimitBytes - baseline) / MiB) * MiB);
        }
        cache.setLeak(bytes);
        break;
      }
      case 'connections': {
        const where = target();
        try {
          await holder.holdExactly(where, (p.count as number | undefined) ?? 250);
        } catch (err) {
          throw new DemoError(500, 'connections_failed', `could not open the connections: ${(err as Error).message}; holding ${holder.count}`);
        }
        break;
      }
      case 'db':
        db.state = (p.mode as DbState | undefined) ?? 'broken';
        break;
      case 'validation':
        validationFault = { ratio: (p.ratio as number | undefined) ?? 0.5 };
        break;
    }
    recheckContention();
    const details = faultDetails(kind) ?? {};
    log.info({ fault: kind, ...details }, 'fault injected');
    return details;
  }

  function clearFault(kind: FaultKind): boolean {
    const was = faultActive(kind);
    switch (kind) {
      case 'latency':
        latencyFault = null;
        break;
      case 'errors':
        errorsFault = null;
        break;
      case 'memory':
        cache.setLeak(0);
        setImmediate(runGc);
        break;
      case 'connections':
        holder.releaseAll();
        break;
      case 'db':
        db.state = 'up';
        break;
      case 'validation':
        validationFault = null;
        break;
    }
    recheckContention();
    if (was) log.info({ fault: kind }, 'fault cleared');
    return was;
  }

  const upstreamStatus = (): 'ok' | 'degraded' | 'failing' => {
    if (!errorsFault) return 'ok';
    return errorsFault.mode === 'transient' ? 'degraded' : 'failing';
  };

  // --- HTTP ---------------------------------------------------------------------------------

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((req: Request, res: Response, next: NextFunction) => {
    const start = performance.now();
    metrics.inFlight.inc();
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      metrics.inFlight.dec();
      const labels = { method: req.method, route: routeLabel(req), status_code: String(res.statusCode) };
      metrics.httpDuration.observe(labels, (performance.now() - start) / 1000);
      metrics.httpRequests.inc(labels);
    };
    res.once('finish', finish);
    res.once('close', finish);
    next();
  });
  app.use(express.json({ limit: '100kb' }));

  const admin = (req: Request, res: Response, next: NextFunction): void => {
    if (adminToken === null) {
      res.status(503).json({ error: { code: 'admin_disabled', message: 'admin disabled: set DEMO_ADMIN_TOKEN' } });
      return;
    }
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (m && sameSecret((m[1] as string).trim(), adminToken)) return next();
    res.setHeader('WWW-Authenticate', 'Bearer realm="demo-app"');
    res.status(401).json({ error: { code: 'unauthorized', message: 'missing or invalid admin token (Authorization: Bearer <DEMO_ADMIN_TOKEN>)' } });
  };

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/metrics', async (_req, res) => {
    const text = await metrics.registry.metrics();
    res.type(metrics.registry.contentType).send(text);
  });

  app.get('/api/items', async (req, res) => {
    const raw = req.query.n;
    const n = raw === undefined ? 20 : typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isInteger(n) || n < 1 || n > 1000) {
      throw new DemoError(400, 'invalid_parameter', `n must be an integer from 1 to 1000, got ${JSON.stringify(raw)}`, 'n');
    }
    const release = await slots.acquire(config.timeout_ms);
    try {
      const key = `items:${n}`;
      let payload = cache.get(key);
      if (!payload) {
        await db.query('select');
        payload = ownBuffer(itemsPayload(n));
        cache.set(key, payload);
      }
      await upstream.call();
      res.type('application/json').send(payload);
    } finally {
      release();
    }
  });

  let orderIds = 0;
  app.post('/api/orders', async (req, res) => {
    let body: unknown = req.body;
    const check = checkOrder(body);
    if (!check.ok && config.sanitize) {
      const fixed = sanitizeOrder(body);
      if (fixed.ok) {
        metrics.rejected.inc({ reason: 'sanitized' });
        body = fixed.order;
      }
    }
    const recheck = body === req.body ? check : checkOrder(body);
    if (!recheck.ok && config.validation === 'strict') {
      metrics.rejected.inc({ reason: 'validation' });
      throw new DemoError(400, 'invalid_order', recheck.message, recheck.field);
    }
    const release = await slots.acquire(config.timeout_ms);
    try {
      let order: ReturnType<typeof processOrder>;
      try {
        order = processOrder(body);
      } catch (err) {
        metrics.validationErrors.inc();
        throw new DemoError(500, 'processing_failed', (err as Error).message);
      }
      await db.query('insert');
      res.status(201).json({ order_id: ++orderIds, ...order });
    } finally {
      release();
    }
  });

  // Faults: no authentication, on purpose (a demo's fault injection is not a production surface).
  const faultKind = (req: Request): FaultKind => {
    const kind = req.params.kind as string;
    if (!(FAULT_KINDS as readonly string[]).includes(kind)) {
      throw new DemoError(404, 'unknown_fault', `no fault "${kind}" (known: ${FAULT_KINDS.join(', ')})`);
    }
    return kind as FaultKind;
  };
  app.get('/fault', (_req, res) => {
    res.json({ active: activeFaults() });
  });
  app.post('/fault/:kind', async (req, res) => {
    const kind = faultKind(req);
    const details = await inject(kind, req.body);
    res.json({ fault: kind, active: true, ...details });
  });
  app.delete('/fault/:kind', (req, res) => {
    const kind = faultKind(req);
    res.json({ fault: kind, cleared: clearFault(kind) });
  });
  app.delete('/fault', (_req, res) => {
    const cleared = FAULT_KINDS.filter((k) => clearFault(k));
    res.json({ cleared });
  });

  app.get('/admin/config', admin, (_req, res) => {
    res.json(config);
  });
  app.put('/admin/config', admin, (req, res) => {
    if (req.body === undefined) {
      throw new DemoError(400, 'invalid_config', 'send the knobs as a JSON object (content-type: application/json)');
    }
    const next = applyConfigPatch(config, req.body);
    const previous = config;
    config = next;
    slots.setLimit(next.concurrency);
    db.pool.setLimit(next.pool_size);
    cache.setMaxBytes(next.cache_size_mb * MiB);
    if (next.cleanup_interval_ms !== previous.cleanup_interval_ms) scheduleCleanup();
    recheckContention();
    const changed = Object.fromEntries(
      Object.entries(next).filter(([k, v]) => previous[k as keyof DemoConfig] !== v),
    );
    log.info({ changed }, 'config changed');
    res.json(config);
  });

  app.post('/admin/cache/clear', admin, (_req, res) => {
    const cleared = cache.clear();
    // After this handler returns, so the dropped Buffers are no longer referenced from its frame.
    setImmediate(runGc);
    log.info(cleared, 'cache cleared');
    res.json({ cleared_bytes: cleared.bytes, cleared_entries: cleared.entries });
  });

  app.post('/admin/gc', admin, (_req, res) => {
    const before = memoryUsed();
    const ran = runGc();
    res.json(
      ran
        ? { gc: true, memory_used_bytes_before: before, memory_used_bytes_after: memoryUsed() }
        : { gc: false, message: 'garbage collection is not exposed: start node with --expose-gc' },
    );
  });

  app.post('/admin/db/reset', admin, (_req, res) => {
    if (db.reconnect()) {
      log.info('database connection reset');
      res.json({ connected: true, pool_size: config.pool_size });
      return;
    }
    res.status(503).json({ connected: false, error: { code: 'db_unreachable', message: 'cannot reconnect: the database is unreachable' } });
  });

  app.get('/admin/health', admin, (_req, res) => {
    if (db.state === 'broken' && db.reconnect()) log.info('database reconnected by the health check');
    const body = { db: db.state === 'up' ? 'up' : 'down', upstream: upstreamStatus(), cache_bytes: cache.sizeBytes };
    if (db.state === 'up') {
      res.json({ status: 'ok', ...body });
      return;
    }
    res.status(503).json({ status: 'unhealthy', ...body, error: { code: 'db_unreachable', message: 'the database is unreachable' } });
  });

  app.post('/admin/retry', admin, (_req, res) => {
    if (errorsFault?.mode === 'permanent') {
      res.status(503).json({
        upstream: 'failing',
        error: { code: 'upstream_unavailable', message: 'the upstream keeps failing after reconnecting; nothing the app can do' },
      });
      return;
    }
    const reconnected = errorsFault !== null;
    errorsFault = null;
    if (reconnected) log.info('upstream connection re-established');
    res.json({ upstream: 'ok', reconnected });
  });

  app.post('/admin/connections/close-idle', admin, (_req, res) => {
    const closed = tracker.closeIdle();
    log.info({ closed }, 'idle connections closed');
    res.json({ closed });
  });

  app.use((req: Request, res: Response) => {
    res.status(404).json({ error: { code: 'not_found', message: `no route for ${req.method} ${req.path}` } });
  });

  const onError: ErrorRequestHandler = (err: unknown, req, res, _next) => {
    const e = err as { status?: number; type?: string; message?: string };
    let status = 500;
    let error: Record<string, unknown> = { code: 'internal', message: 'internal error' };
    if (err instanceof DemoError) {
      status = err.status;
      error = { code: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) };
    } else if (e.type === 'entity.parse.failed') {
      status = 400;
      error = { code: 'invalid_json', message: `request body is not valid JSON: ${e.message ?? ''}`.trim() };
    } else if (e.type === 'entity.too.large') {
      status = 413;
      error = { code: 'body_too_large', message: 'request body exceeds 100kb' };
    } else if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      status = e.status;
      error = { code: e.type ?? 'bad_request', message: e.message ?? 'bad request' };
    } else {
      log.error({ err, method: req.method, url: req.originalUrl }, 'request failed');
    }
    if (res.headersSent) return;
    res.status(status).json({ error });
  };
  app.use(onError);

  return {
    app,
    registry: metrics.registry,
    get state(): DemoState {
      const c = cache.stats;
      return {
        config: { ...config },
        faults: activeFaults(),
        cache: {
          bytes: cache.sizeBytes,
          entries: cache.entryCount,
          max_bytes: cache.limitBytes,
          leaked_bytes: cache.leakedBytes,
          hits: c.hits,
          misses: c.misses,
        },
        db: { state: db.state, pool_size: db.pool.size, pool_in_use: db.pool.inUse, pool_waiting: db.pool.waiting },
        connections: { open: tracker.open, held_by_fault: holder.count },
        requests: { in_flight_api: slots.inUse, waiting_for_slot: slots.waiting },
        memory: { used_bytes: memoryUsed(), limit_bytes: memoryLimitBytes },
        load: load ? { ...load.stats, rps: loadRps } : null,
      };
    },
    attach(s: Server) {
      server = s;
      tracker.attach(s);
    },
    start(opts = {}) {
      loadRps = opts.load ?? 0;
      if (loadRps <= 0 || load) return;
      load = new LoadGenerator({
        target: target(),
        rps: loadRps,
        maxOutstanding: options.loadMaxOutstanding ?? 32,
        random,
        invalidRatio: () => validationFault?.ratio ?? 0,
      });
      load.start();
    },
    close() {
      if (closed) return;
      closed = true;
      load?.stop();
      if (cleanupTimer) clearInterval(cleanupTimer);
      holder.releaseAll();
      slots.close();
      db.pool.close();
      recheckContention();
      cache.clear();
    },
  };
}
