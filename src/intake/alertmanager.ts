/**
 * Alertmanager webhook payload (version 4), validated with a schema. Unknown keys are
 * accepted: newer Alertmanagers add fields (notification_reason, routeLabels...).
 */
import { type Alert, episodeKey, fingerprintOf } from '../alert.js';
import { PromedicError } from '../errors.js';
import { createAjv, describeSchemaError, jsonPath } from '../util/schema.js';

const stringMap = { type: 'object', additionalProperties: { type: 'string' } } as const;

export const PAYLOAD_SCHEMA = {
  type: 'object',
  required: ['version', 'status', 'alerts'],
  properties: {
    version: { type: 'string' },
    status: { enum: ['firing', 'resolved'] },
    receiver: { type: 'string' },
    groupKey: { type: 'string' },
    truncatedAlerts: { type: 'integer', minimum: 0 },
    groupLabels: stringMap,
    commonLabels: stringMap,
    commonAnnotations: stringMap,
    externalURL: { type: 'string' },
    alerts: {
      type: 'array',
      maxItems: 10000,
      items: {
        type: 'object',
        required: ['status', 'labels', 'startsAt'],
        properties: {
          status: { enum: ['firing', 'resolved'] },
          labels: { ...stringMap, minProperties: 1 },
          annotations: stringMap,
          startsAt: { type: 'string', format: 'date-time' },
          endsAt: { type: 'string' },
          generatorURL: { type: 'string' },
          fingerprint: { type: 'string', pattern: '^[0-9a-f]{1,32}$' },
        },
      },
    },
  },
} as const;

const validate = createAjv().compile(PAYLOAD_SCHEMA);

interface RawAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  startsAt: string;
  endsAt?: string;
  generatorURL?: string;
  fingerprint?: string;
}

/** Raw fields of an alert before classification fills category and severity. */
export type IncomingAlert = Omit<Alert, 'category' | 'severity'>;

/** Validates a webhook body; throws a 400 PromedicError naming the first bad fields. */
export function parsePayload(body: unknown, now = new Date()): IncomingAlert[] {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new PromedicError('invalid_payload', 'request body must be a JSON object (Alertmanager webhook payload)', { status: 400 });
  }
  const version = (body as { version?: unknown }).version;
  if (version !== undefined && version !== '4') {
    throw new PromedicError('unsupported_version', `version: must be "4" (got ${JSON.stringify(version)})`, { status: 400 });
  }
  if (!validate(body)) {
    const problems = (validate.errors ?? []).slice(0, 5).map((e) => {
      const { path, message } = describeSchemaError(e);
      return `${jsonPath(path) || '(body)'}: ${message}`;
    });
    throw new PromedicError('invalid_payload', problems.join('; '), { status: 400 });
  }
  const payload = body as { receiver?: string; alerts: RawAlert[] };
  const receivedAt = now.toISOString();
  return payload.alerts.map((a) => {
    // Alertmanager always sends a fingerprint; compute the same one when a hand-made payload does not.
    const fingerprint = a.fingerprint ?? fingerprintOf(a.labels);
    // The exact string Alertmanager sent: every re-send of an episode carries it unchanged.
    const startsAt = a.startsAt;
    return {
      status: a.status,
      labels: a.labels,
      annotations: a.annotations ?? {},
      startsAt,
      endsAt: a.endsAt ?? '0001-01-01T00:00:00Z',
      generatorURL: a.generatorURL ?? '',
      fingerprint,
      episode: episodeKey(fingerprint, startsAt),
      source: 'alertmanager',
      receiver: payload.receiver ?? '',
      receivedAt,
    };
  });
}
