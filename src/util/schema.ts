import { Ajv, type ErrorObject } from 'ajv';

/** An ajv instance that reports every error, knows the "regex" format, and accepts our "default" annotations. */
export function createAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
  ajv.addFormat('regex', {
    type: 'string',
    validate: (s: string) => {
      try {
        new RegExp(s);
        return true;
      } catch {
        return false;
      }
    },
  });
  ajv.addFormat('date-time', {
    type: 'string',
    validate: (s: string) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(s) && !Number.isNaN(Date.parse(s)),
  });
  return ajv;
}

/** Formats an ajv error path for a JSON document: alerts[3].labels */
export function jsonPath(path: string[]): string {
  return path.reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '');
}

/** One ajv error as a key path and a sentence a user can act on. */
export function describeSchemaError(err: ErrorObject): { path: string[]; message: string } {
  const path = err.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (err.keyword === 'additionalProperties') {
    const key = String((err.params as { additionalProperty: string }).additionalProperty);
    return { path: [...path, key], message: 'unknown key' };
  }
  if (err.keyword === 'required') {
    return { path: [...path, String((err.params as { missingProperty: string }).missingProperty)], message: 'is required' };
  }
  if (err.keyword === 'enum') {
    const allowed = (err.params as { allowedValues: unknown[] }).allowedValues.map(String).join(', ');
    return { path, message: `must be one of: ${allowed}` };
  }
  if (err.keyword === 'pattern' && String((err.params as { pattern?: string }).pattern).includes('ms|s|m|h')) {
    return { path, message: 'must be a duration such as 500ms, 5s, 1m30s' };
  }
  if (err.keyword === 'format' && (err.params as { format: string }).format === 'regex') {
    return { path, message: 'must be a valid regular expression' };
  }
  return { path, message: err.message ?? err.keyword };
}

