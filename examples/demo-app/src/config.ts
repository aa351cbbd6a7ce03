/**
 * The demo app's knobs (GET/PUT /admin/config) and the small field parser shared with the
 * fault endpoints. A change is all-or-nothing: every field is checked before any is applied.
 */

/** An error with the HTTP status and stable code the app answers with. */
export class DemoError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;

  constructor(status: number, code: string, message: string, field?: string) {
    super(message);
    this.name = 'DemoError';
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export type FieldSpec =
  | { kind: 'int' | 'number'; min: number; max: number }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'bool' };

function describe(spec: FieldSpec): string {
  switch (spec.kind) {
    case 'int':
      return `an integer between ${spec.min} and ${spec.max}`;
    case 'number':
      return `a number between ${spec.min} and ${spec.max}`;
    case 'enum':
      return `one of ${spec.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'bool':
      return 'true or false';
  }
}

function valid(spec: FieldSpec, value: unknown): boolean {
  switch (spec.kind) {
    case 'int':
      return typeof value === 'number' && Number.isInteger(value) && value >= spec.min && value <= spec.max;
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) && value >= spec.min && value <= spec.max;
    case 'enum':
      return typeof value === 'string' && spec.values.includes(value);
    case 'bool':
      return typeof value === 'boolean';
  }
}

/**
 * Checks a JSON object against field specs: every key must be known and every value valid.
 * `what` names the object in messages ("config", "latency fault"); `code` is the error code.
 * An absent body (undefined) is an empty object.
 */
export function parseFields(
  body: unknown,
  specs: Readonly<Record<string, FieldSpec>>,
  what: string,
  code: string,
): Record<string, unknown> {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw new DemoError(400, code, `${what} must be a JSON object`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    const spec = specs[key];
    if (!spec) {
      const known = Object.keys(specs).join(', ');
      throw new DemoError(400, code, `unknown field "${key}" in ${what} (known: ${known})`, key);
    }
    if (!valid(spec, value)) {
      throw new DemoError(400, code, `${key} must be ${describe(spec)}, got ${JSON.stringify(value)}`, key);
    }
    out[key] = value;
  }
  return out;
}

export interface DemoConfig {
  /** How long a request waits for a concurrency slot or a DB connection before a 503. */
  timeout_ms: number;
  /** Extra attempts of a failed upstream call. */
  retries: number;
  /** Size limit of the item cache. */
  cache_size_mb: number;
  /** Period of the sweep that drops expired cache entries. */
  cleanup_interval_ms: number;
  /** Requests to /api served at once; the rest queue. */
  concurrency: number;
  /** Rows a DB query fetches per round trip; each query costs more the bigger it is. */
  batch_size: number;
  /** Connections in the DB pool. */
  pool_size: number;
  validation: 'normal' | 'strict';
  sanitize: boolean;
}

export const NUMERIC_KNOBS = ['timeout_ms', 'retries', 'cache_size_mb', 'cleanup_interval_ms', 'concurrency', 'batch_size', 'pool_size'] as const;

export const CONFIG_FIELDS: Readonly<Record<keyof DemoConfig, FieldSpec>> = {
  timeout_ms: { kind: 'int', min: 10, max: 120_000 },
  retries: { kind: 'int', min: 0, max: 10 },
  cache_size_mb: { kind: 'number', min: 0.1, max: 4096 },
  cleanup_interval_ms: { kind: 'int', min: 100, max: 3_600_000 },
  concurrency: { kind: 'int', min: 1, max: 1024 },
  batch_size: { kind: 'int', min: 1, max: 10_000 },
  pool_size: { kind: 'int', min: 1, max: 256 },
  validation: { kind: 'enum', values: ['normal', 'strict'] },
  sanitize: { kind: 'bool' },
};

export const DEFAULT_CONFIG: Readonly<DemoConfig> = Object.freeze({
  timeout_ms: 10_000,
  retries: 1,
  cache_size_mb: 32,
  cleanup_interval_ms: 10_000,
  concurrency: 16,
  batch_size: 200,
  pool_size: 20,
  validation: 'normal',
  sanitize: false,
});

/** The config after applying `patch` to `current`; throws a 400 DemoError and changes nothing when any field is bad. */
export function applyConfigPatch(current: DemoConfig, patch: unknown): DemoConfig {
  const fields = parseFields(patch, CONFIG_FIELDS, 'config', 'invalid_config');
  return { ...current, ...(fields as Partial<DemoConfig>) };
}
