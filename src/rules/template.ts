/**
 * Templating that renders alert data as data, never as code. A template is text with
 * `{{ path }}` references (labels.x, annotations.x, alert.x, run.x, playbook.x, env.X).
 * No expressions, no filters, no evaluation: a reference is looked up and its string
 * value put into one slot — an argv element, an env value, a header value, a JSON string,
 * or a percent-encoded URL path/query segment. A URL's scheme, host and port may not
 * contain references at all: they come only from the playbook.
 */
export interface TemplateVars {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  alert: Record<string, string>;
  run: Record<string, string>;
  playbook: Record<string, string>;
  env: Record<string, string | undefined>;
}

const REF_RE = /\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\.([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g;
const ANY_BRACES = /\{\{|\}\}/;
const ROOTS = new Set(['labels', 'annotations', 'alert', 'run', 'playbook', 'env']);
export const ALERT_FIELDS = ['status', 'fingerprint', 'startsAt', 'endsAt', 'category', 'severity', 'episode', 'generatorURL', 'alertname'];
export const RUN_FIELDS = ['id', 'strategy', 'mode'];
export const PLAYBOOK_FIELDS = ['name', 'category'];

export class TemplateError extends Error {}

/** Load-time check of a template: every reference must be known. Returns problems, empty when fine. */
export function checkTemplate(tpl: string): string[] {
  const problems: string[] = [];
  const stripped = tpl.replace(REF_RE, (_, root: string, key: string) => {
    if (!ROOTS.has(root)) problems.push(`unknown template root "${root}" in {{ ${root}.${key} }} (use labels, annotations, alert, run, playbook or env)`);
    else if (root === 'alert' && !ALERT_FIELDS.includes(key)) problems.push(`unknown alert field "${key}" (known: ${ALERT_FIELDS.join(', ')})`);
    else if (root === 'run' && !RUN_FIELDS.includes(key)) problems.push(`unknown run field "${key}" (known: ${RUN_FIELDS.join(', ')})`);
    else if (root === 'playbook' && !PLAYBOOK_FIELDS.includes(key)) problems.push(`unknown playbook field "${key}"`);
    return '';
  });
  if (ANY_BRACES.test(stripped)) problems.push(`malformed template ${JSON.stringify(tpl)}: only {{ root.name }} references are allowed`);
  return problems;
}

function lookup(vars: TemplateVars, root: string, key: string): string {
  const table = (vars as unknown as Record<string, Record<string, string | undefined>>)[root];
  const v = table?.[key];
  if (v === undefined) {
    throw new TemplateError(`{{ ${root}.${key} }} is not set${root === 'labels' ? ` (the alert has no label "${key}")` : ''}`);
  }
  return v;
}

/** Renders into a plain string slot (argv element, env value, JSON string value). */
export function render(tpl: string, vars: TemplateVars, encode: (s: string) => string = (s) => s): string {
  return tpl.replace(REF_RE, (_, root: string, key: string) => encode(lookup(vars, root, key)));
}

/** Renders a header value; CR, LF and NUL are refused so a value cannot add a header. */
export function renderHeader(tpl: string, vars: TemplateVars): string {
  const v = render(tpl, vars);
  // CR/LF would start a new header; other control characters and non-ASCII have no agreed meaning
  // in a header (fetch would send U+00FC as one Latin-1 byte and refuse U+65E5 outright).
  if (!/^[\t\x20-\x7e]*$/.test(v)) {
    throw new TemplateError(
      `header value from ${JSON.stringify(tpl)} contains a line break, a control character or a non-ASCII character, which a header cannot carry (such values belong in the body or the URL)`,
    );
  }
  return v;
}

const ORIGIN_RE = /^(https?):\/\/([^/?#]+)(.*)$/s;

/** Load-time check of a URL template: literal http(s) origin, references only in path and query. */
export function checkUrlTemplate(tpl: string): string[] {
  const m = ORIGIN_RE.exec(tpl);
  if (!m) return [`url ${JSON.stringify(tpl)} must start with http:// or https:// and a literal host`];
  if (ANY_BRACES.test(m[2] as string)) return [`url ${JSON.stringify(tpl)}: the host and port must be literal (no templates): they come from the playbook, never from an alert`];
  return checkTemplate(m[3] as string);
}

/** Renders a URL: the origin verbatim, each reference in the path/query percent-encoded. */
export function renderUrl(tpl: string, vars: TemplateVars): URL {
  const m = ORIGIN_RE.exec(tpl);
  if (!m || ANY_BRACES.test(m[2] as string)) throw new TemplateError(`url ${JSON.stringify(tpl)} has no literal origin`);
  const rest = render(m[3] as string, vars, encodeURIComponent);
  const url = new URL(`${m[1]}://${m[2]}${rest}`);
  // Belt and braces: the rendered origin must be exactly the literal one.
  if (url.host !== new URL(`${m[1]}://${m[2]}`).host) throw new TemplateError(`url ${JSON.stringify(tpl)} changed host while rendering`);
  // encodeURIComponent leaves "." alone, and URL parsing resolves "." and ".." segments (even
  // as %2E): a value that would move the request to another path is refused.
  const rawPath = rest.split(/[?#]/)[0] ?? '';
  if (url.pathname !== (rawPath.startsWith('/') ? rawPath : `/${rawPath}`)) {
    throw new TemplateError(`url ${JSON.stringify(tpl)}: the rendered path has a "." or ".." segment`);
  }
  return url;
}

/** Renders every string inside a JSON-like value (for bodies); keys are left as written. */
export function renderDeep(value: unknown, vars: TemplateVars): unknown {
  if (typeof value === 'string') return render(value, vars);
  if (Array.isArray(value)) return value.map((v) => renderDeep(v, vars));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderDeep(v, vars)]));
  }
  return value;
}

/** Every template string inside a JSON-like value, with its path, for load-time checks. */
export function templateStrings(value: unknown, path: string[] = []): Array<{ path: string[]; text: string }> {
  if (typeof value === 'string') return value.includes('{{') || value.includes('}}') ? [{ path, text: value }] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => templateStrings(v, [...path, String(i)]));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => templateStrings(v, [...path, k]));
  return [];
}

/**
 * The same variables with every environment reference shown by name (`<env DEMO_TOKEN>`), for
 * what is recorded, logged and answered: secrets are rendered only for the action that uses them.
 */
export function displayVars(vars: TemplateVars): TemplateVars {
  const env = new Proxy({} as Record<string, string | undefined>, { get: (_t, k) => (typeof k === 'string' ? `<env ${k}>` : undefined) });
  const short = (o: Record<string, string>) => {
    if (!Object.values(o).some((v) => v.length > DISPLAY_LIMIT)) return o;
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v.length > DISPLAY_LIMIT ? `${v.slice(0, DISPLAY_LIMIT)}…(${v.length} characters)` : v]));
  };
  return { ...vars, labels: short(vars.labels), annotations: short(vars.annotations), alert: short(vars.alert), env };
}

/**
 * Longest alert value shown whole in a recorded step: a run record shows the start of a longer
 * one and its length (what ran had all of it), so a 1 MB label does not fill the history once
 * per slot.
 */
export const DISPLAY_LIMIT = 512;

/** The environment variables the templates inside a value refer to. */
export function envNames(value: unknown): string[] {
  const names = new Set<string>();
  for (const t of templateStrings(value)) for (const m of t.text.matchAll(/\{\{\s*env\.([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g)) names.add(m[1] as string);
  return [...names];
}

/** Replaces the values of the named environment variables in a text (an error, an output) by their names. */
export function scrubEnv(text: string, names: readonly string[], env: Record<string, string | undefined> = process.env): string {
  let out = text;
  for (const n of names) {
    const v = env[n];
    // Very short values would scrub ordinary text; they are not secrets worth the name.
    if (v && v.length >= 4) out = out.split(v).join(`<env ${n}>`);
  }
  return out;
}
