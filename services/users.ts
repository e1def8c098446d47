// User commands: a batch of campaign recipients upserted all or nothing, audited with its caller in the
// same transaction (db/user-store.ts). Entries arrive validated (api/user-entries.ts).
import { upsertUsers, type UserInput } from '../db/user-store';
import type { CommandContext } from './context';

export async function upsertUserBatch(ctx: CommandContext, users: UserInput[]): Promise<{ received: number; inserted: number; updated: number }> {
  const result = await upsertUsers(ctx.db, users, { audit: { actor: ctx.actor, requestId: ctx.requestId } });
  return { received: users.length, inserted: result.inserted, updated: result.updated };
}
