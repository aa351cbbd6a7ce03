import { type Request, type Response, Router } from 'express';
import type { Context } from '../../context.js';
import { PromedicError, errorMessage } from '../../errors.js';
import { parsePayload } from '../../intake/alertmanager.js';

/**
 * POST /webhook/alertmanager: validate, make durable, answer 202 — never wait for a playbook.
 * 503 only means "send it again" (the store cannot write), which Alertmanager does.
 */
export function webhookRoutes(ctx: Context): Router {
  const r = Router();
  r.post('/webhook/alertmanager', async (req: Request, res: Response) => {
    if (!req.is('application/json')) {
      throw new PromedicError('unsupported_media_type', 'Content-Type must be application/json', { status: 415 });
    }
    const alerts = parsePayload(req.body);
    let result;
    try {
      result = await ctx.intake.receive(alerts);
    } catch (err) {
      ctx.logger.error({ component: 'webhook', err: errorMessage(err) }, 'could not record alerts; answering 503 so Alertmanager retries');
      throw new PromedicError('store_unavailable', `alerts could not be recorded durably (${errorMessage(err)}); retry later`, { status: 503, retryable: true });
    }
    res.status(202).json({ status: 'accepted', ...result });
  });
  return r;
}
