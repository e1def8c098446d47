// The one write path for incident rows: declaring (with dedupe) from the API, and mirroring the
// workflow's snapshots from its activity. Reads for the API live here too.
import type { Db } from './client';
import { isUniqueViolation } from './errors';
import { isOpen, type IncidentState, type IncidentStatus } from '../domain/incident';

export type DeclareResult = { kind: 'created'; incident: IncidentState } | { kind: 'existing'; incident: IncidentState };

const asState = (json: unknown) => json as IncidentState;

/**
 * Insert the incident and, with a dedupe key, claim the key in the same transaction. Declares racing
 * on one key: one insert wins, the others hit the key's primary key, roll back, and answer with the
 * winner's incident.
 */
export async function declareIncident(db: Db, initial: IncidentState): Promise<DeclareResult> {
  const findOpen = async (key: string) => {
    const claim = await db.incidentDedupeKey.findUnique({ where: { dedupeKey: key } });
    if (!claim) return undefined;
    const row = await db.incident.findUnique({ where: { id: claim.incidentId } });
    return row ? asState(row.snapshot) : undefined;
  };
  if (initial.dedupeKey) {
    const existing = await findOpen(initial.dedupeKey);
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
          // `as object` is needed (tsc: Prisma's Json input type wants an index signature IncidentState
          // lacks), though the rule's assignability check calls it unnecessary.
          // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
          runbookVersion: initial.runbook.version, snapshot: initial as object, version: initial.version,
          declaredAt: new Date(initial.declaredAt),
        },
      });
    });
    return { kind: 'created', incident: initial };
  } catch (err) {
    if (initial.dedupeKey && isUniqueViolation(err)) {
      const winner = await findOpen(initial.dedupeKey);
      if (winner) return { kind: 'existing', incident: winner };
    }
    throw err;
  }
}

/** Undo a declaration whose workflow could not be started. */
export async function deleteUndeclaredIncident(db: Db, incidentId: string): Promise<void> {
  await db.$transaction([
    db.incidentDedupeKey.deleteMany({ where: { incidentId } }),
    db.incident.deleteMany({ where: { id: incidentId, version: 0 } }),
  ]);
}

/**
 * Mirror a snapshot: only a newer version overwrites (a retried or late activity is a no-op). When
 * the incident stops being open, its dedupe key is released so the next alert opens a new incident.
 */
export async function saveIncidentSnapshot(db: Db, s: IncidentState): Promise<{ written: boolean }> {
  return db.$transaction(async (tx) => {
    const res = await tx.incident.updateMany({
      where: { id: s.incidentId, version: { lt: s.version } },
      data: {
        // `as object`: see declareIncident above.
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
        title: s.title, severity: s.severity, status: s.status, snapshot: s as object, version: s.version,
        resolvedAt: s.resolvedAt ? new Date(s.resolvedAt) : null, closedAt: s.closedAt ? new Date(s.closedAt) : null,
        updatedAt: new Date(),
      },
    });
    if (!isOpen(s.status) && s.dedupeKey) {
      await tx.incidentDedupeKey.deleteMany({ where: { dedupeKey: s.dedupeKey, incidentId: s.incidentId } });
    }
    return { written: res.count > 0 };
  });
}

export async function getIncident(db: Db, incidentId: string): Promise<IncidentState | undefined> {
  const row = await db.incident.findUnique({ where: { id: incidentId }, select: { snapshot: true } });
  return row ? asState(row.snapshot) : undefined;
}

export type IncidentFilter = 'open' | 'resolved' | 'closed' | 'all';

export async function listIncidents(db: Db, filter: IncidentFilter, limit = 100) {
  const status: IncidentStatus[] | undefined =
    filter === 'open' ? ['OPEN', 'MITIGATED'] : filter === 'resolved' ? ['RESOLVED'] : filter === 'closed' ? ['CLOSED'] : undefined;
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
