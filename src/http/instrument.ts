import type { IncomingMessage, ServerResponse } from 'node:http';
import { Gauge, Histogram } from 'prom-client';
import type { Context } from '../context.js';

/** Tracks one request: in-flight gauge, duration histogram by route pattern, a debug log line. */
export type Track = (req: IncomingMessage, res: ServerResponse, route: () => string) => void;

export function createInstrument(ctx: Context): Track {
  const log = ctx.logger.child({ component: 'http' });
  const duration = new Histogram({
    name: 'promedic_http_request_duration_seconds',
    help: 'Duration of HTTP requests to promedic, by route pattern, method and status code.',
    labelNames: ['route', 'method', 'code'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [ctx.registry],
  });
  const inFlight = new Gauge({
    name: 'promedic_http_requests_in_flight',
    help: 'HTTP requests currently being served by promedic.',
    registers: [ctx.registry],
  });
  return (req, res, route) => {
    const start = process.hrtime.bigint();
    inFlight.inc();
    res.once('close', () => {
      inFlight.dec();
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const r = route();
      duration.observe({ route: r, method: req.method ?? '', code: String(res.statusCode) }, seconds);
      if (log.isLevelEnabled('debug')) {
        log.debug({ method: req.method, url: req.url, route: r, status: res.statusCode, duration_seconds: seconds, remote: req.socket.remoteAddress }, 'request');
      }
    });
  };
}
