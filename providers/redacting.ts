// Wraps a provider so no error text it produces carries an address (domain/redact.ts): a refused or
// failed send's `error`, and the message of anything it throws. Applied once where workers are built
// (workers/create.ts), so every activity that sends (campaign pages, notifications) records and logs
// the redacted text only.
import { redactAddresses } from '../domain/redact';
import type { OutgoingMessage, Provider, SendResult } from './types';

type MaybeBatching = Provider & { sendMany?(messages: OutgoingMessage[]): Promise<SendResult[]> };

function clean(result: SendResult, m: OutgoingMessage): SendResult {
  return result.ok ? result : { ...result, error: redactAddresses(result.error, [m.to]) };
}

function cleanError(err: unknown, known: string[]): Error {
  const e = new Error(redactAddresses(err instanceof Error ? err.message : String(err), known));
  e.name = err instanceof Error ? err.name : 'Error';
  return e; // the original (with its stack and cause, which may quote the address) is dropped
}

const WRAPPED = Symbol.for('keel.redactingProvider');

export function redactingProvider<P extends MaybeBatching>(p: P): P {
  if ((p as unknown as Record<symbol, unknown>)[WRAPPED]) return p;
  const wrapped: MaybeBatching = {
    name: p.name,
    async send(m) {
      try {
        return clean(await p.send(m), m);
      } catch (err) {
        throw cleanError(err, [m.to]);
      }
    },
    ...(p.close ? { close: () => p.close!() } : {}),
    ...(p.sendMany
      ? {
          async sendMany(ms: OutgoingMessage[]) {
            try {
              const results = await p.sendMany!(ms);
              return results.map((r, i) => clean(r, ms[i]));
            } catch (err) {
              throw cleanError(err, ms.map((m) => m.to));
            }
          },
        }
      : {}),
  };
  // Anything else the provider offers (e.g. the outbox's helpers used by tests) stays reachable.
  return Object.assign(Object.create(p) as P, wrapped, { [WRAPPED]: true });
}

export function redactingProviders<K extends string, P extends MaybeBatching>(providers: Record<K, P>): Record<K, P> {
  const seen = new Map<P, P>();
  return Object.fromEntries(
    Object.entries(providers).map(([k, p]) => {
      const key = p as P;
      if (!seen.has(key)) seen.set(key, redactingProvider(key));
      return [k, seen.get(key)];
    }),
  ) as Record<K, P>;
}
