// Bearer API keys with roles. KEEL_API_KEYS="service:tok1,operator:tok2,..."; the actor recorded in
// events and audit rows is `<role>:<first 8 hex of sha256(token)>`, never the token itself.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { ApiError } from './errors';

export const ROLES = ['service', 'operator', 'commander', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export interface Caller {
  role: Role;
  actor: string;
}

interface KeyEntry {
  digest: Buffer;
  caller: Caller;
}

export function parseApiKeys(spec: string): KeyEntry[] {
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((pair, n) => {
      const i = pair.indexOf(':');
      const role = pair.slice(0, i) as Role;
      const token = pair.slice(i + 1);
      if (i < 1 || !ROLES.includes(role) || token.length < 16) {
        // Names the entry by position and its role only when it is one: no character of what may be a
        // token ever reaches an error message or a log.
        const which = ROLES.includes(role) ? `entry ${n + 1} (role ${role})` : `entry ${n + 1}`;
        throw new Error(`KEEL_API_KEYS: ${which} must be role:token with role in ${ROLES.join('|')} and a token of 16+ characters`);
      }
      const digest = createHash('sha256').update(token).digest();
      return { digest, caller: { role, actor: `${role}:${digest.toString('hex').slice(0, 8)}` } };
    });
}

export function authenticate(keys: KeyEntry[]): RequestHandler {
  return (req, _res, next) => {
    const header = req.get('authorization') ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) return next(new ApiError(401, 'UNAUTHORIZED', 'missing bearer API key (Authorization: Bearer <key>)'));
    const digest = createHash('sha256').update(m[1]).digest();
    // Compare digests in constant time so a key cannot be guessed byte by byte.
    const entry = keys.find((k) => timingSafeEqual(k.digest, digest));
    if (!entry) return next(new ApiError(401, 'UNAUTHORIZED', 'unknown API key'));
    (req as Request & { caller?: Caller }).caller = entry.caller;
    next();
  };
}

export function allow(...roles: Role[]): RequestHandler {
  return (req, _res, next) => {
    const caller = callerOf(req);
    if (!roles.includes(caller.role)) {
      return next(new ApiError(403, 'FORBIDDEN', `role ${caller.role} may not do this; allowed: ${roles.join(', ')}`));
    }
    next();
  };
}

export function callerOf(req: Request): Caller {
  const caller = (req as Request & { caller?: Caller }).caller;
  if (!caller) throw new ApiError(401, 'UNAUTHORIZED', 'not authenticated');
  return caller;
}
