// The one write path for incident rows: declaring (with dedupe) from the API, applying the workflow's
// changes from its activity, and abandoning an incident whose workflow is gone. Reads for the API
// live here too. The row's snapshot holds the state without its timeline; the timeline is one row per
// entry in incident_timeline, so a write appends the change and never rewrites what grew before it.
import { Prisma } from '../generated/prisma/client';
import type { Db } from './client';
import { isUniqueViolation } from './errors';
import {
  applyIncidentChange,
  isOpen,
  type IncidentChange,
  type IncidentState,
  type IncidentStatus,
  type TimelineEntry,
} from '../domain/incident';

export type DeclareResult = { kind: 'created'; incident: IncidentState } | { kind: 'existing'; incident: IncidentState };

type Tx = Prisma.TransactionClient;

/** The newest entries GET /v1/incidents/:id (and every action's answer) include; the rest is paged. */
export const TIMELINE_IN_STATE = 50;
export const TIMELINE_PAGE_MAX = 200;

const asState = (json: unknown) => json as IncidentState;
const json = (v: unknown) => v as Prisma.InputJsonValue;

function withoutTimeline(s: IncidentState): Omit<IncidentState, 'timeline' | 'timelineTotal'> {
  const { timeline: _t, timelineTotal: _n, ...rest } = s;
  return rest;
}

function timelineRows(incidentId: string, entries: TimelineEntry[]) {
  return entries.map((e) => ({
    incidentId, seq: e.seq, at: new Date(e.at), kind: e.kind, actor: e.actor, text: e.text,
    ...(e.data === undefined ? {} : { data: json(e.data) }),
  }));
}

function entryOf(r: { seq: number; at: Date; kind: string; actor: string; text: string; data: unknown }): TimelineEntry {
  return {
    seq: r.seq, at: r.at.toISOString(), kind: r.kind as TimelineEntry['kind'], actor: r.actor, text: r.text,
    ...(r.data === null || r.data === undefined ? {} : { data: r.data as Record<string, unknown> }),
  };
}

/** The row's state with the newest `limit` timeline entries (all of them: `limit` undefined). */
async function assemble(db: Db | Tx, incidentId: string, snapshot: unknown, limit: number | undefined): Promise<IncidentState> {
  const [rows, total] = await Promise.all([
    db.incidentTimelineEntry.findMany({ where: { incidentId }, orderBy: { seq: 'desc' }, ...(limit === undefined ? {} : { take: limit }) }),
    db.incidentTimelineEntry.count({ where: { incidentId } }),
  ]);
  return { ...asState(snapshot), timeline: rows.reverse().map(entryOf), timelineTotal: total };
}

async function readDedupeHolder(db: Db | Tx, key: string): Promise<IncidentState | undefined> {
  const claim = await db.incidentDedupeKey.findUnique({ where: { dedupeKey: key } });
  if (!claim) return undefined;
  const row = await db.incident.findUnique({ where: { id: claim.incidentId }, select: { snapshot: true } });
  return row ? assemble(db, claim.incidentId, row.snapshot, TIMELINE_IN_STATE) : undefined;
}

/**
 * Insert the incident and, with a dedupe key, claim the key in the same transaction. Declares racing
 * on one key: one insert wins, the others hit the key's primary key, roll back, and answer with the
 * winner's incident. Whether the holder's workflow still runs is the caller's question
 * (services/incidents.ts), answered with abandonIncident.
 */
export async function declareIncident(db: Db, initial: IncidentState): Promise<DeclareResult> {
  if (initial.dedupeKey) {
    const existing = await readDedupeHolder(db, initial.dedupeKey);
    if (existing) return { kind: 'existing', incident: existing };
  }
  try {
    await db.$transaction(async (tx) => {
      if (initial.dedupeKey) {
        await tx.incidentDedupeKey.create({ data: { dedupeKey: initial.dedupeKey, incidentId: initial.incidentId } });
      }
      await tx.incident.create({
        data: {
          id: initial.incidentId, title: initial.title, severity: initial.severity, status: initial.status, drill: initial.drill,
          components: initial.components, dedupeKey: initial.dedupeKey ?? null, workflowId: initial.workflowId,
          runbookVersion: initial.runbook.version, snapshot: json(withoutTimeline(initial)), version: initial.version,
          declaredAt: new Date(initial.declaredAt),
        },
      });
      await tx.incidentTimelineEntry.createMany({ data: timelineRows(initial.incidentId, initial.timeline) });
    });
    return { kind: 'created', incident: { ...initial, timelineTotal: initial.timeline.length } };
  } catch (err) {
    if (initial.dedupeKey && isUniqueViolation(err)) {
      const winner = await readDedupeHolder(db, initial.dedupeKey);
      if (winner) return { kind: 'existing', incident: winner };
    }
    throw err;
  }
}

/** Undo a declaration whose workflow could not be started. */
export async function deleteUndeclaredIncident(db: Db, incidentId: string): Promise<void> {
  await db.$transaction(async (tx) => {
    await tx.incidentDedupeKey.deleteMany({ where: { incidentId } });
    const gone = await tx.incident.deleteMany({ where: { id: incidentId, version: 0 } });
    if (gone.count) await tx.incidentTimelineEntry.deleteMany({ where: { incidentId } });
  });
}

/**
 * Apply the workflow's changes, in order, under the row's lock: a version the row already has is
 * skipped, so a retried or late activity is a no-op. When the incident stops being open, its dedupe
 * key is released so the next alert opens a new incident.
 */
export async function applyIncidentChanges(db: Db, incidentId: string, changes: IncidentChange[]): Promise<{ applied: number }> {
  return db.$transaction(async (tx) => {
    const [row] = await tx.$queryRaw<Array<{ snapshot: unknown; status: string }>>`
      SELECT "snapshot", "status"::text AS "status" FROM "incidents" WHERE "id" = ${incidentId} FOR UPDATE`;
    if (!row) return { applied: 0 };
    const s = { ...asState(typeof row.snapshot === 'string' ? JSON.parse(row.snapshot) : row.snapshot), timeline: [] as TimelineEntry[] };
    let applied = 0;
    for (const c of changes) if (applyIncidentChange(s, c)) applied++;
    if (!applied) return { applied };
    // An incident abandoned meanwhile (its workflow was found gone) keeps that status: a change
    // arriving later is kept in the record but does not reopen it.
    if (row.status === 'ABANDONED') s.status = 'ABANDONED';
    if (s.timeline.length) {
      await tx.incidentTimelineEntry.createMany({ data: timelineRows(incidentId, s.timeline), skipDuplicates: true });
    }
    await tx.incident.update({
      where: { id: incidentId },
      data: {
        title: s.title, severity: s.severity, status: s.status, snapshot: json(withoutTimeline(s)), version: s.version,
        resolvedAt: s.resolvedAt ? new Date(s.resolvedAt) : null, closedAt: s.closedAt ? new Date(s.closedAt) : null,
        updatedAt: new Date(),
      },
    });
    if (!isOpen(s.status) && s.dedupeKey) {
      await tx.incidentDedupeKey.deleteMany({ where: { dedupeKey: s.dedupeKey, incidentId } });
    }
    return { applied };
  });
}

/**
 * Mark an incident whose workflow has ended without closing it (or is gone) ABANDONED, with the reason
 * in its state and timeline, and release its dedupe key: one transaction. Only an open (OPEN or
 * MITIGATED) row changes; `abandoned: false` when someone else got there first or it was not open.
 */
export async function abandonIncident(db: Db, incidentId: string, reason: string, now = new Date()): Promise<{ abandoned: boolean }> {
  return db.$transaction(async (tx) => {
    const [row] = await tx.$queryRaw<Array<{ snapshot: unknown; status: string }>>`
      SELECT "snapshot", "status"::text AS "status" FROM "incidents" WHERE "id" = ${incidentId} FOR UPDATE`;
    if (!row) return { abandoned: false };
    const s = asState(typeof row.snapshot === 'string' ? JSON.parse(row.snapshot) : row.snapshot);
    if (s.dedupeKey) await tx.incidentDedupeKey.deleteMany({ where: { dedupeKey: s.dedupeKey, incidentId } });
    if (!isOpen(row.status as IncidentStatus)) return { abandoned: false };
    const last = await tx.incidentTimelineEntry.findFirst({ where: { incidentId }, orderBy: { seq: 'desc' }, select: { seq: true } });
    const at = now.toISOString();
    await tx.incidentTimelineEntry.create({
      data: { incidentId, seq: (last?.seq ?? 0) + 1, at: now, kind: 'abandoned', actor: 'system', text: `Abandoned: ${reason}`, data: json({ reason }) },
    });
    const next = { ...s, status: 'ABANDONED' as const, abandonedAt: at, abandonedReason: reason };
    await tx.incident.update({ where: { id: incidentId }, data: { status: 'ABANDONED', snapshot: json(withoutTimeline(next)), updatedAt: now } });
    return { abandoned: true };
  });
}

/** The incident with its newest TIMELINE_IN_STATE timeline entries (`timelineTotal` counts them all). */
export async function getIncident(db: Db, incidentId: string): Promise<IncidentState | undefined> {
  const row = await db.incident.findUnique({ where: { id: incidentId }, select: { snapshot: true } });
  return row ? assemble(db, incidentId, row.snapshot, TIMELINE_IN_STATE) : undefined;
}

/** The incident with its whole timeline: for the post-mortem, a document that holds every entry. */
export async function getFullIncident(db: Db, incidentId: string): Promise<IncidentState | undefined> {
  const row = await db.incident.findUnique({ where: { id: incidentId }, select: { snapshot: true } });
  return row ? assemble(db, incidentId, row.snapshot, undefined) : undefined;
}

/** The holder of a dedupe key, if any: which incident and workflow, and since when. */
export async function dedupeHolder(db: Db, key: string) {
  const claim = await db.incidentDedupeKey.findUnique({ where: { dedupeKey: key } });
  if (!claim) return undefined;
  const row = await db.incident.findUnique({ where: { id: claim.incidentId }, select: { id: true, workflowId: true, declaredAt: true, version: true } });
  return row ?? undefined;
}

/** One page of the timeline, oldest first, entries with seq > afterSeq. */
export async function getTimelinePage(db: Db, incidentId: string, afterSeq: number, limit: number) {
  const rows = await db.incidentTimelineEntry.findMany({
    where: { incidentId, seq: { gt: afterSeq } }, orderBy: { seq: 'asc' }, take: Math.min(limit, TIMELINE_PAGE_MAX) + 1,
  });
  const more = rows.length > limit;
  const entries = rows.slice(0, limit).map(entryOf);
  return { entries, nextAfterSeq: more ? entries.at(-1)!.seq : null };
}

export type IncidentFilter = 'open' | 'resolved' | 'closed' | 'abandoned' | 'all';

export async function listIncidents(db: Db, filter: IncidentFilter, limit = 100) {
  const status: IncidentStatus[] | undefined =
    filter === 'open' ? ['OPEN', 'MITIGATED'] : filter === 'resolved' ? ['RESOLVED'] : filter === 'closed' ? ['CLOSED']
      : filter === 'abandoned' ? ['ABANDONED'] : undefined;
  const rows = await db.incident.findMany({
    where: status ? { status: { in: status } } : {},
    orderBy: { declaredAt: 'desc' },
    take: limit,
    select: { id: true, title: true, severity: true, status: true, drill: true, components: true, declaredAt: true, resolvedAt: true, closedAt: true, workflowId: true },
  });
  return rows.map((r) => ({
    incidentId: r.id, workflowId: r.workflowId, title: r.title, severity: r.severity, status: r.status, drill: r.drill,
    components: r.components, declaredAt: r.declaredAt.toISOString(), resolvedAt: r.resolvedAt?.toISOString() ?? null,
    closedAt: r.closedAt?.toISOString() ?? null,
  }));
}

/** Open rows (OPEN, MITIGATED), oldest first: the watchdog describes their workflows. */
export async function openIncidentRows(db: Db, limit: number) {
  return db.incident.findMany({
    where: { status: { in: ['OPEN', 'MITIGATED'] } }, orderBy: { declaredAt: 'asc' }, take: limit,
    select: { id: true, workflowId: true, status: true, declaredAt: true, dedupeKey: true, version: true },
  });
}
