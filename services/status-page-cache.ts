// The public status page as the API serves it: rendered once per change, not once per request. In an
// outage everyone refreshes the page, and a database read plus an HTML render per request made it
// the slowest public route exactly when it matters most.
//
// Each API process keeps the last document it read, with its HTML and JSON bodies (Buffers) and
// their strong ETags computed once. Several API processes may run, and the document is rebuilt by the
// incident workers (db/status-store.ts rebuildStatusPage), so each process learns of a change by
// polling the row's version (its xmin, a few bytes by primary key) at most once per `refreshMs`
// (1 s by default) and reads and renders the document only when the version changed.
//
// Staleness bound: a rebuild committed at time T is served by every process from at the latest
// T + refreshMs + the time of one version read, one document read and one render (milliseconds)
// while the database answers. The poll runs only once the page has been asked for (most processes
// that build an app never serve it) and stops with the app (closeApp in api/app.ts).
//
// While the database is unreachable the polls fail and the page keeps serving the last document it
// read: the status page must stay up in an outage. Before the first successful read there is nothing
// to serve, so a request reads the document as it always did (one read shared by concurrent
// requests) and a failure answers 503 like any other database read.
import { createHash } from 'node:crypto';
import { readStatusPageVersion, readVersionedStatusPage } from '../db/status-store';
import { renderStatusHtml, type StatusDocument } from '../domain/status-page';
import type { Services } from './context';

export const STATUS_PAGE_REFRESH_MS = 1_000;

export interface RenderedBody {
  body: Buffer;
  /** A strong validator: a hash of exactly these bytes, in quotes. */
  etag: string;
  contentType: string;
}

export interface PublishedStatusPage {
  /** The row version it was rendered from (null: no row yet, the all-operational page). */
  version: string | null;
  document: StatusDocument;
  html: RenderedBody;
  json: RenderedBody;
}

export interface StatusPageCacheOptions {
  /** Those the page lists before its first rebuild (KEEL_STATUS_COMPONENTS). */
  components: string[];
  /** The HTML page's heading and <title>. */
  title?: string;
  /** How often the version is polled; default STATUS_PAGE_REFRESH_MS. */
  refreshMs?: number;
  /** A failed poll, reported once per distinct error (not every second of an outage). */
  onError?: (err: unknown) => void;
}

export interface StatusPageCache {
  /** The page to serve: the one rendered at the last change; before the first successful read, a read now. */
  page(): Promise<PublishedStatusPage>;
  /** Polls the version now and re-renders if it changed (what the timer does; tests call it to skip the wait). */
  refresh(): Promise<PublishedStatusPage>;
  /** Stops polling (idempotent). The last page keeps being served. */
  stop(): void;
}

function rendered(text: string, contentType: string): RenderedBody {
  const body = Buffer.from(text, 'utf8');
  return { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 32)}"`, contentType };
}

export function publishStatusPage(version: string | null, document: StatusDocument, title?: string): PublishedStatusPage {
  return {
    version,
    document,
    html: rendered(renderStatusHtml(document, title ? { title } : {}), 'text/html; charset=utf-8'),
    // What res.json(document) sent: the same bytes, so clients see no difference but the ETag.
    json: rendered(JSON.stringify(document), 'application/json; charset=utf-8'),
  };
}

export function createStatusPageCache(ctx: Pick<Services, 'db'>, opts: StatusPageCacheOptions): StatusPageCache {
  const every = opts.refreshMs ?? STATUS_PAGE_REFRESH_MS;
  let current: PublishedStatusPage | undefined;
  let loading: Promise<PublishedStatusPage> | undefined;
  let checking: Promise<PublishedStatusPage> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let lastFailure: string | undefined;

  // One document read at a time, shared by whoever asks meanwhile.
  const load = (): Promise<PublishedStatusPage> => {
    loading ??= readVersionedStatusPage(ctx.db, opts.components)
      .then(({ version, document }) => (current = publishStatusPage(version, document, opts.title)))
      .finally(() => (loading = undefined));
    return loading;
  };

  const refresh = (): Promise<PublishedStatusPage> => {
    checking ??= (async () => {
      if (!current) return load();
      const version = await readStatusPageVersion(ctx.db);
      return version === current.version ? current : load();
    })().finally(() => (checking = undefined));
    return checking;
  };

  const poll = () => {
    // A slow database must not stack polls up: the one in flight answers for this tick too.
    if (checking) return;
    refresh().then(
      () => (lastFailure = undefined),
      (err: unknown) => {
        const message = String((err as Error)?.message ?? err);
        if (message !== lastFailure) opts.onError?.(err);
        lastFailure = message;
      },
    );
  };

  const startPolling = () => {
    if (timer || stopped || every <= 0) return;
    timer = setInterval(poll, every);
    // Never what keeps a process (or a jest worker) alive.
    timer.unref();
  };

  return {
    page() {
      startPolling();
      return current ? Promise.resolve(current) : load();
    },
    refresh,
    stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
