// The one write path for emergency log levels (the log-level workflow's activity calls it): the
// component's row and its audit entry in one transaction, once per change key. Plus the processes'
// acknowledgements, which the log-level watchers write and GET /v1/admin/log-level reads.
import type { Db } from './client';
import type { LogComponent, LogLevelChange } from '../domain/log-level';

export type ApplyOutcome = 'applied' | 'already_applied';

export async function applyLogLevelChange(db: Db, c: LogLevelChange): Promise<ApplyOutcome> {
  return db.$transaction(async (tx) => {
    // Serialise writers of this component (a row lock cannot cover the first insert), so two attempts
    // of the same activity cannot both write an audit entry.
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`log_levels:${c.component}`}))`;
    const current = await tx.logLevelWindow.findUnique({ where: { component: c.component }, select: { changeKey: true } });
    if (current?.changeKey === c.changeKey) return 'already_applied';
    const data = {
      level: c.level,
      revertsAt: c.revertsAt ? new Date(c.revertsAt) : null,
      setBy: c.setBy.slice(0, 80),
      reason: c.reason?.slice(0, 500) ?? null,
      changeKey: c.changeKey,
      updatedAt: new Date(),
    };
    await tx.logLevelWindow.upsert({ where: { component: c.component }, create: { component: c.component, ...data }, update: data });
    await tx.auditLog.create({
      data: {
        actor: c.setBy.slice(0, 80),
        action: c.level ? 'log_level.set' : 'log_level.revert',
        resourceType: 'log_level',
        resourceId: c.component,
        requestId: c.requestId,
        details: { level: c.level, revertsAt: c.revertsAt, reason: c.reason ?? null },
      },
    });
    return 'applied';
  });
}

export async function readLogLevel(db: Db, component: LogComponent) {
  return db.logLevelWindow.findUnique({ where: { component }, select: { level: true, revertsAt: true } });
}

export async function listLogLevels(db: Db) {
  return db.logLevelWindow.findMany({ orderBy: { component: 'asc' } });
}

export interface Ack {
  instance: string;
  component: LogComponent;
  level: string;
  defaultLevel: string;
}

/** Written on every poll: seen_at doubles as the process's heartbeat. */
export async function upsertAck(db: Db, a: Ack): Promise<void> {
  const data = { component: a.component, level: a.level, defaultLevel: a.defaultLevel, seenAt: new Date() };
  await db.logLevelAck.upsert({ where: { instance: a.instance }, create: { instance: a.instance, ...data }, update: data });
}

export async function deleteAck(db: Db, instance: string): Promise<void> {
  await db.logLevelAck.deleteMany({ where: { instance } });
}

/** Acks refreshed since `since`: the processes that are alive. Older rows (crashed processes) are pruned. */
export async function liveAcks(db: Db, since: Date) {
  await db.logLevelAck.deleteMany({ where: { seenAt: { lt: new Date(since.getTime() - 24 * 3600_000) } } });
  return db.logLevelAck.findMany({ where: { seenAt: { gte: since } }, orderBy: { instance: 'asc' } });
}
