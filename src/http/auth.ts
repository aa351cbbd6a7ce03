/**
 * Authentication for the webhook and the API: a bearer token and/or basic auth, as
 * Alertmanager's http_config sends them, compared in constant time. Alertmanager does not
 * sign payloads, so this is the only thing between the network and the playbooks.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { NextFunction, Request, Response } from 'express';

export interface Credentials {
  token: string | null;
  basic: { username: string; password: string } | null;
}

function digest(s: string): Buffer {
  // Hash first so the comparison takes the same time whatever the lengths.
  return createHash('sha256').update(s, 'utf8').digest();
}

function same(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

export function hasCredentials(c: Credentials): boolean {
  return c.token !== null || c.basic !== null;
}

/** Checks an Authorization header against the configured credentials. */
export function authorized(header: string | undefined, c: Credentials): boolean {
  if (!hasCredentials(c)) return true;
  if (!header) return false;
  const space = header.indexOf(' ');
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).trim();
  if (scheme === 'bearer' && c.token !== null) return same(value, c.token);
  if (scheme === 'basic' && c.basic !== null) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return false;
    // Both compared, always, so timing does not tell which one was wrong.
    const u = same(decoded.slice(0, colon), c.basic.username);
    const p = same(decoded.slice(colon + 1), c.basic.password);
    return u && p;
  }
  return false;
}

/** Answers 401 with a challenge for the configured scheme. */
export function rejectUnauthorized(res: ServerResponse, c: Credentials): void {
  res.setHeader('WWW-Authenticate', c.token !== null ? 'Bearer realm="promedic"' : 'Basic realm="promedic"');
  res.statusCode = 401;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.end(JSON.stringify({ error: { code: 'unauthorized', message: 'missing or invalid credentials (Authorization: Bearer <token> or basic auth)' } }));
}

export function requireAuth(c: Credentials) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (authorized(req.headers.authorization, c)) return next();
    rejectUnauthorized(res, c);
  };
}
