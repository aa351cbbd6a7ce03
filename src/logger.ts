import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';

/** JSON logs on stdout (pino); components take `log.child({ component })`. */
export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'promedic' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Never log credentials, even at debug.
      redact: { paths: ['req.headers.authorization', 'config.auth.token', 'token'], censor: '[redacted]' },
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}
