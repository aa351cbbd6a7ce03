/**
 * Built-in strategies for the common kinds of failure, usable by name from a playbook:
 *
 *   strategies:
 *     - catalog: database.reset_connection
 *       with: { base_url: "http://127.0.0.1:8080", token_env: DEMO_ADMIN_TOKEN }
 *
 * Each is a parametrised list of steps against an app's admin endpoints. `base_url` is the
 * app's literal origin; `token_env` (optional) names an environment variable of promedic
 * holding the admin token, sent as a bearer token.
 */
export interface CatalogParams {
  base_url: string;
  token_env?: string;
  [k: string]: unknown;
}

type RawStep = Record<string, unknown>;

function adminCall(p: CatalogParams, method: string, path: string, body?: unknown): RawStep {
  const headers: Record<string, string> = {};
  if (p.token_env) headers.authorization = `Bearer {{ env.${p.token_env} }}`;
  return {
    http: {
      method,
      url: `${p.base_url.replace(/\/$/, '')}${path}`,
      ...(Object.keys(headers).length ? { headers } : {}),
      ...(body === undefined ? {} : { body }),
    },
  };
}

const retry = { attempts: 3, backoff: 'exponential', initial: '1s', max: '10s' };

/** One knob set through PUT /admin/config, with the undo that puts the previous value back. */
function setKnob(p: CatalogParams, name: string, key: string, value: unknown, previous: unknown): RawStep[] {
  return [
    {
      name,
      ...adminCall(p, 'PUT', '/admin/config', { [key]: value }),
      undo: adminCall(p, 'PUT', '/admin/config', { [key]: previous }),
    },
  ];
}

export const CATALOG: Record<string, { description: string; params: string[]; steps: (p: CatalogParams) => RawStep[] }> = {
  'database.retry': {
    description: 'Retry the database health check with exponential backoff (transient outages).',
    params: ['base_url', 'token_env'],
    steps: (p) => [{ name: 'check database', ...adminCall(p, 'GET', '/admin/health'), retry: { ...retry, attempts: 5 } }],
  },
  'database.reset_connection': {
    description: 'Reset the app\'s database connection pool, then check health.',
    params: ['base_url', 'token_env'],
    steps: (p) => [
      { name: 'reset database connection', ...adminCall(p, 'POST', '/admin/db/reset'), retry },
      { name: 'health check', ...adminCall(p, 'GET', '/admin/health'), retry },
    ],
  },
  'database.health_check': {
    description: 'Run the app\'s health check (which reconnects on failure).',
    params: ['base_url', 'token_env'],
    steps: (p) => [{ name: 'health check', ...adminCall(p, 'GET', '/admin/health'), retry }],
  },
  'api.retry': {
    description: 'Retry the failing upstream call through the app (idempotent endpoints only).',
    params: ['base_url', 'token_env', 'path'],
    steps: (p) => [{ name: 'retry call', ...adminCall(p, 'POST', String(p.path ?? '/admin/retry')), retry }],
  },
  'api.validate_parameters': {
    description: 'Turn on strict request parameter validation in the app.',
    params: ['base_url', 'token_env'],
    steps: (p) => setKnob(p, 'strict parameter validation', 'validation', 'strict', 'normal'),
  },
  'memory.clear_caches': {
    description: 'Clear the app\'s caches to release memory.',
    params: ['base_url', 'token_env'],
    steps: (p) => [{ name: 'clear caches', ...adminCall(p, 'POST', '/admin/cache/clear'), retry }],
  },
  'memory.gc': {
    description: 'Ask the app to run garbage collection.',
    params: ['base_url', 'token_env'],
    steps: (p) => [{ name: 'garbage collect', ...adminCall(p, 'POST', '/admin/gc'), retry }],
  },
  'performance.reduce_concurrency': {
    description: 'Lower the app\'s concurrency limit (restored if the fix fails).',
    params: ['base_url', 'token_env', 'concurrency', 'previous'],
    steps: (p) => setKnob(p, 'reduce concurrency', 'concurrency', p.concurrency ?? 4, p.previous ?? 16),
  },
  'performance.optimize_queries': {
    description: 'Switch the app to its optimised query plan / smaller batches.',
    params: ['base_url', 'token_env', 'batch_size', 'previous'],
    steps: (p) => setKnob(p, 'smaller batches', 'batch_size', p.batch_size ?? 50, p.previous ?? 200),
  },
  'validation.strengthen': {
    description: 'Turn on strict input validation in the app.',
    params: ['base_url', 'token_env'],
    steps: (p) => setKnob(p, 'strict validation', 'validation', 'strict', 'normal'),
  },
  'validation.sanitize': {
    description: 'Turn on input sanitisation in the app.',
    params: ['base_url', 'token_env'],
    steps: (p) => setKnob(p, 'sanitise input', 'sanitize', true, false),
  },
};
