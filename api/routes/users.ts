// /v1/users: campaign recipients, upserted in batches of up to 10,000 (POST /batch).
//
// Bodies of that size exceed the app-wide JSON limit (KEEL_BODY_LIMIT, 100kb by default), so this
// router parses its own body with a larger limit, after the role check. For the larger limit to apply,
// mount the router (behind authenticate) BEFORE the app's global express.json:
//   app.use("/v1", authenticate(keys)); app.use("/v1/users", usersRouter(services));
// (body-parser skips a body that was already read, so mounted after it the global limit would win.)
//
// A batch is all or nothing: every bad entry is reported (api/user-entries.ts) and nothing is written
// unless all entries are valid.
import express, { Router, type Request } from 'express';
import { z } from 'zod';
import type { Services } from '../../services/context';
import { upsertUserBatch } from '../../services/users';
import { allow } from '../auth';
import { commandContext } from '../context';
import { ApiError } from '../errors';
import { MAX_USERS_PER_BATCH, UserEntry, validateUsers } from '../user-entries';
import { parse } from '../validation';

/** Room for 10,000 entries with every field at its maximum length (about 1.6 kB each as JSON). */
export const DEFAULT_USERS_BODY_LIMIT = '16mb';

/** The request body as documented (for OpenAPI); entries are validated one by one with UserEntry. */
export const UsersBatchBody = z.strictObject({
  users: z.array(UserEntry).min(1).max(MAX_USERS_PER_BATCH),
});

// Shape first, entries second: a 10,001-entry body is refused without validating 10,001 entries.
const BatchShape = z.strictObject({
  users: z
    .array(z.unknown(), { message: 'must be an array of users' })
    .min(1, 'must contain at least one user')
    .max(MAX_USERS_PER_BATCH, `must contain at most ${MAX_USERS_PER_BATCH.toLocaleString('en-US')} users per batch; split the upload`),
});

function requireJson(req: Request): void {
  if (req.headers['content-type'] !== undefined && !req.is('application/json')) {
    throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'send the batch as application/json: {"users": [...]}');
  }
}

/** `bodyLimit`: JSON body limit for POST /batch (express syntax, e.g. '16mb'). */
export function usersRouter(services: Services, opts: { bodyLimit?: string } = {}): Router {
  const r = Router();
  const json = express.json({ limit: opts.bodyLimit ?? DEFAULT_USERS_BODY_LIMIT, strict: true });

  r.post('/batch', allow('service', 'operator'), json, async (req, res) => {
    requireJson(req);
    const { users: entries } = parse(BatchShape, req.body);
    res.json(await upsertUserBatch(commandContext(services, req), validateUsers(entries)));
  });

  return r;
}
