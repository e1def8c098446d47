// The public status page as ONE precomputed row (`status_page`, id 'public'). Writes happen when an
// incident's public face changes (a public update, resolution, closure: the incident workflow calls an
// activity that calls rebuildStatusPage); reads are one primary-key lookup, whatever the history size.
import { Prisma } from '../generated/prisma/client';
import type { Db } from './client';
import { buildStatusDocument, STATUS_HISTORY_DAYS, type StatusDocument, type StatusIncident } from '../domain/status-page';

export const STATUS_PAGE_ID = 'public';

const DAY_MS = 86_400_000;

/** The first instant of the oldest day shown (the UTC day STATUS_HISTORY_DAYS - 1 days before today). */
export function statusWindowStart(now: Date): Date {
  const todayStart = Math.floor(now.getTime() / DAY_MS) * DAY_MS;
  return new Date(todayStart - (STATUS_HISTORY_DAYS - 1) * DAY_MS);
}

/** How far before the window incidents are read, so one declared earlier but resolved inside it still shows. */
export const STATUS_LOOKBACK_DAYS = 30;

/**
 * The incidents the page is built from: non-drill, declared within the window (plus a lookback for long
 * incidents that began before it), or declared earlier and still open. Two index range scans
 * (declared_at; status, declared_at) rather than one OR, which PostgreSQL would answer by walking the
 * whole table or index: the cost follows the window, not the history. The snapshot is read without the
 * parts the page never shows (timeline, checklist, roles, action items, retrospective), which are most of its size.
 */
export function statusSourceQuery(now: Date): Prisma.Sql {
  const from = new Date(statusWindowStart(now).getTime() - STATUS_LOOKBACK_DAYS * DAY_MS);
  const snapshot = Prisma.sql`"snapshot" - ARRAY['timeline', 'checklist', 'roles', 'roleHistory', 'actionItems', 'retrospective']::text[] AS "snapshot"`;
  return Prisma.sql`
    SELECT ${snapshot} FROM "incidents"
    WHERE "declared_at" >= ${from} AND "drill" = false
    UNION ALL
    SELECT ${snapshot} FROM "incidents"
    WHERE "status" IN ('OPEN'::"IncidentStatus", 'MITIGATED'::"IncidentStatus") AND "declared_at" < ${from} AND "drill" = false`;
}

/**
 * Recomputes the document from the incidents and stores it. Idempotent; concurrent calls are serialised
 * on the status_page row (locked before the incidents are read), so the last writer has also read last
 * and a slow rebuild can never overwrite a newer document with an older view.
 */
export async function rebuildStatusPage(db: Db, components: string[], now = new Date()): Promise<StatusDocument> {
  return db.$transaction(
    async (tx) => {
      // Takes (or creates and takes) the row lock; the placeholder never becomes visible: it is
      // replaced below in the same transaction.
      await tx.$executeRaw`
        INSERT INTO "status_page" ("id", "document", "updated_at") VALUES (${STATUS_PAGE_ID}, '{}'::jsonb, now())
        ON CONFLICT ("id") DO UPDATE SET "id" = EXCLUDED."id"`;
      const rows = await tx.$queryRaw<Array<{ snapshot: unknown }>>(statusSourceQuery(now));
      const incidents = rows.map((r) => (typeof r.snapshot === 'string' ? JSON.parse(r.snapshot) : r.snapshot) as StatusIncident);
      const doc = buildStatusDocument(incidents, components, now);
      await tx.statusPage.update({
        where: { id: STATUS_PAGE_ID },
        data: { document: doc as unknown as Prisma.InputJsonValue, updatedAt: now },
      });
      return doc;
    },
    // Rebuilds queue behind each other on the row lock: give the wait room.
    { maxWait: 10_000, timeout: 30_000 },
  );
}

/** True for a stored value that looks like a StatusDocument (not the placeholder, not garbage). */
function isStatusDocument(v: unknown): v is StatusDocument {
  const d = v as Partial<StatusDocument> | null;
  return (
    !!d &&
    typeof d === 'object' &&
    typeof d.generatedAt === 'string' &&
    typeof d.overall === 'string' &&
    Array.isArray(d.components) &&
    Array.isArray(d.activeIncidents) &&
    Array.isArray(d.history)
  );
}

/**
 * The stored document: one primary-key lookup. Before the first rebuild, an all-operational document
 * built from no incidents (never a scan of the incidents table).
 */
export async function readStatusPage(db: Db, components: string[]): Promise<StatusDocument> {
  const row = await db.statusPage.findUnique({ where: { id: STATUS_PAGE_ID }, select: { document: true } });
  if (row && isStatusDocument(row.document)) return row.document;
  return buildStatusDocument([], components, new Date());
}

/**
 * The stored row's version: its xmin, the id of the transaction that last wrote it. Every rebuild
 * updates the row, so the version changes with every rebuild, even one that keeps the same
 * `updated_at` (a rebuild given an explicit `now`) - which is why it is not the timestamp. Null
 * before the first rebuild. One primary-key lookup that returns a few bytes, not the document: what
 * the API's status page cache (services/status-page-cache.ts) polls.
 */
export async function readStatusPageVersion(db: Db): Promise<string | null> {
  const rows = await db.$queryRaw<Array<{ version: string }>>`
    SELECT "xmin"::text AS "version" FROM "status_page" WHERE "id" = ${STATUS_PAGE_ID}`;
  return rows[0]?.version ?? null;
}

/**
 * readStatusPage together with the version of the row it came from, in one statement (so the pair is
 * consistent: a rebuild between two reads cannot pair an old version with a new document).
 */
export async function readVersionedStatusPage(db: Db, components: string[]): Promise<{ version: string | null; document: StatusDocument }> {
  const rows = await db.$queryRaw<Array<{ version: string; document: unknown }>>`
    SELECT "xmin"::text AS "version", "document" FROM "status_page" WHERE "id" = ${STATUS_PAGE_ID}`;
  const row = rows[0];
  const document = typeof row?.document === 'string' ? (JSON.parse(row.document) as unknown) : row?.document;
  if (row && isStatusDocument(document)) return { version: row.version, document };
  // No row (or the placeholder): the same all-operational page readStatusPage answers, under the
  // row's version (null without a row), so the next rebuild changes it.
  return { version: row?.version ?? null, document: buildStatusDocument([], components, new Date()) };
}
