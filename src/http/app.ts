/**
 * The express app, built by a function and never listening by itself (tests and the
 * composition root decide where it listens).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type ErrorRequestHandler, type NextFunction, type Request, type Response } from 'express';
import type { Context } from '../context.js';
import { PromedicError } from '../errors.js';
import { OwnExposition } from '../metrics/own.js';
import { requireAuth } from './auth.js';
import { PAGE_CSP, PAGE_CSS, PAGE_HTML, PAGE_JS } from './page.js';
import { apiRoutes } from './routes/api.js';
import type { Track } from './instrument.js';

export interface AppOptions {
  /** Readiness beyond the basics (first collection cycle done, store open). */
  /** Why promedic is not ready (empty: ready). */
  ready: () => string[];
  track: Track;
}

/** The route pattern ("/api/v1/runs/:id"), never the raw URL, so label cardinality stays bounded. */
function routeLabel(req: Request): string {
  const route = (req as Request & { route?: { path?: unknown } }).route;
  if (route && typeof route.path === 'string') return `${req.baseUrl}${route.path}`;
  return 'unmatched';
}

/**
 * GET /metrics as a plain node:http handler in front of express (see main.ts): a scrape is
 * the most frequent request, and express's layers were most of its tail latency. The host
 * families come from the buffer encoded once per cycle; promedic's own from its registry.
 */
export function createMetricsHandler(ctx: Context, track: Track): (req: IncomingMessage, res: ServerResponse) => void {
  const own = new OwnExposition(ctx.registry);
  return (req, res) => {
    track(req, res, () => '/metrics');
    ctx.host.noteScrape(req.socket.remoteAddress ?? '');
    void own.render().then(
      ({ body, release }) => {
        // The cached host exposition and promedic's own text go out as they are (no copy).
        // Copying 75 KB into a fresh Buffer per scrape was external memory that V8 counts
        // toward major GCs: under back-to-back scrapes, multi-ms pauses every few hundred
        // scrapes. The own text's buffer is reused once this response is sent.
        const parts = ctx.host.exposition();
        res.statusCode = 200;
        res.setHeader('Content-Type', ctx.registry.contentType);
        res.setHeader('Content-Length', parts.reduce((n, b) => n + b.length, body.length));
        for (const b of parts) res.write(b);
        res.end(body, release);
      },
      (err: unknown) => {
        ctx.logger.error({ err }, 'could not render metrics');
        res.statusCode = 500;
        res.end();
      },
    );
  };
}

export function isMetrics(req: IncomingMessage): boolean {
  return (req.method === 'GET' || req.method === 'HEAD') && (req.url === '/metrics' || req.url?.startsWith('/metrics?') === true);
}

export function createApp(ctx: Context, opts: AppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const log = ctx.logger.child({ component: 'http' });
  // Request metrics and debug logging, shared with the webhook's fast path (see main.ts).
  app.use((req: Request, res: Response, next: NextFunction) => {
    opts.track(req, res, () => routeLabel(req));
    next();
  });

  app.use(express.json({ limit: ctx.config.http.body_limit_bytes, type: ['application/json', 'application/*+json'] }));

  // Prometheus' own conventions: plain text, 200 when healthy/ready, 503 when not ready.
  app.get('/-/healthy', (_req, res) => {
    res.type('text/plain').send('promedic is Healthy.\n');
  });
  app.get('/-/ready', (_req, res) => {
    const why = opts.ready();
    if (why.length === 0) res.type('text/plain').send('promedic is Ready.\n');
    else res.status(503).type('text/plain').send(`promedic is not ready.\n${why.map((w) => `${w}\n`).join('')}`);
  });

  // The status page: public files; the data it shows comes from the API, behind the credentials.
  const page = (type: string, body: string) => (_req: Request, res: Response) => {
    res.set({ 'content-security-policy': PAGE_CSP, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-cache' });
    res.type(type).send(body);
  };
  app.get('/', page('text/html; charset=utf-8', PAGE_HTML));
  app.get('/status.css', page('text/css; charset=utf-8', PAGE_CSS));
  app.get('/status.js', page('text/javascript; charset=utf-8', PAGE_JS));

  // Everything below acts or reveals history: credentials required when configured.
  const auth = requireAuth({ token: ctx.config.token, basic: ctx.config.basic });
  app.use(['/webhook', '/api', '/-/reload'], auth);
  app.use(apiRoutes(ctx));

  app.use((req: Request, res: Response) => {
    res.status(404).json({ error: { code: 'not_found', message: `no route for ${req.method} ${req.path}` } });
  });

  const onError: ErrorRequestHandler = (err: unknown, req, res, _next) => {
    // body-parser errors carry an HTTP status and a `type`.
    const e = err as { status?: number; statusCode?: number; type?: string; message?: string; expose?: boolean };
    let status = 500;
    let code = 'internal';
    let message = 'internal error';
    if (err instanceof PromedicError) {
      status = err.status;
      code = err.code;
      message = err.message;
    } else if (e.type === 'entity.too.large') {
      status = 413;
      code = 'body_too_large';
      message = `request body exceeds the limit of ${ctx.config.http.body_limit_bytes} bytes (http.body_limit_bytes)`;
    } else if (e.type === 'entity.parse.failed') {
      status = 400;
      code = 'invalid_json';
      message = `request body is not valid JSON: ${e.message ?? ''}`.trim();
    } else if (typeof (e.status ?? e.statusCode) === 'number' && (e.status ?? e.statusCode ?? 500) < 500 && e.expose) {
      status = e.status ?? e.statusCode ?? 400;
      code = e.type ?? 'bad_request';
      message = e.message ?? 'bad request';
    }
    if (status >= 500) log.error({ err, method: req.method, url: req.originalUrl }, 'request failed');
    else log.debug({ err: message, method: req.method, url: req.originalUrl, status }, 'request rejected');
    if (res.headersSent) return;
    res.status(status).json({ error: { code, message } });
  };
  app.use(onError);
  return app;
}
