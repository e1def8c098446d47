// pino JSON logs; pretty only when a human is at the terminal.
import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Field names whose values never reach a log line, at any level (an emergency `trace` included):
 * credentials and customers' personal data, wherever they sit up to three levels deep (headers under
 * req/res, bodies, objects passed to a log call, arrays of them).
 */
export const REDACTED_KEYS = [
  'authorization', 'cookie', 'set-cookie', 'x-api-key', 'proxy-authorization',
  'apiKey', 'api_key', 'token', 'accessToken', 'refreshToken', 'pushToken', 'push_token', 'password', 'pass', 'secret',
  'clientSecret', 'webhookSecret', 'signature',
  'email', 'phone', 'phoneNumber', 'firstName', 'first_name', 'lastName', 'last_name', 'contact', 'recipient', 'reporter',
] as const;

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const at = (prefix: string, key: string) => (IDENT.test(key) ? `${prefix}${prefix ? '.' : ''}${key}` : `${prefix}["${key}"]`);

/** pino's `redact` option, for createLogger and for pino-http (whose child logger takes its own). */
export const REDACT = {
  paths: REDACTED_KEYS.flatMap((k) => [at('', k), at('*', k), at('*.*', k)]),
  censor: '[Redacted]',
};

export function createLogger(opts: { level?: string; name?: string; destination?: pino.DestinationStream } = {}): Logger {
  const pretty = !opts.destination && process.stdout.isTTY && process.env.NODE_ENV !== 'production';
  const options = {
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    name: opts.name,
    redact: REDACT,
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss.l' } } } : {}),
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
