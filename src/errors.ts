/**
 * One base error for the whole service. `code` is stable and machine-readable,
 * `status` is the HTTP status it maps to, `retryable` says whether the caller
 * (Alertmanager, a playbook step) may try again and expect a different outcome.
 */
export class PromedicError extends Error {
  readonly code: string;
  readonly status: number;
  readonly retryable: boolean;

  constructor(
    code: string,
    message: string,
    opts: { status?: number; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'PromedicError';
    this.code = code;
    this.status = opts.status ?? 500;
    this.retryable = opts.retryable ?? false;
  }
}

/** A problem the user can fix in their configuration or environment; the CLI exits 2 on it. */
export class ConfigError extends PromedicError {
  readonly problems: string[];

  constructor(problems: string[], opts: { cause?: unknown } = {}) {
    super('config_invalid', problems.join('\n'), { status: 400, ...opts });
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Longest error message kept (in history, API answers and logs): one that quotes a 1 MB value is cut. */
export const MESSAGE_LIMIT = 4000;

export function errorMessage(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.length > MESSAGE_LIMIT ? `${m.slice(0, MESSAGE_LIMIT)}… (${m.length - MESSAGE_LIMIT} more characters)` : m;
}
