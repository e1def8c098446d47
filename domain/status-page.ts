// The public status page: derived from incidents, never set by hand. Pure (no I/O, no clock: `now` is
// passed in), so the same rules serve the rebuild activity, the API and the static export.
//
// Rules:
// - Drill incidents never appear.
// - An incident appears once it has at least one public update (it has been published): the title of
//   an incident nobody has announced yet stays internal, and the page does not depend on when it was
//   last rebuilt.
// - A component's current state is the worst state given to it in the LATEST public update of each
//   open (OPEN or MITIGATED) incident. A component the latest update does not name is operational as
//   far as that incident is concerned; resolved and closed incidents no longer count.
// - History: the last 90 UTC days (today included), one cell per day per component, coloured by the
//   worst state the component was in during that day (the state of each public update holds from its
//   time until the next update or the resolution), plus the incidents that touched the component.
import {
  COMPONENT_STATES,
  isOpen,
  worstState,
  type ComponentState,
  type IncidentState,
  type IncidentStatus,
  type PublicUpdate,
  type Severity,
} from './incident';

export const STATUS_HISTORY_DAYS = 90;
export const DEFAULT_STATUS_COMPONENTS: readonly string[] = ['booking-api', 'car-unlock', 'payments', 'notifications', 'customer-app'];

const DAY_MS = 86_400_000;

/** What the status page needs from an incident (an IncidentState has all of it). */
export type StatusIncident = Pick<
  IncidentState,
  'incidentId' | 'title' | 'severity' | 'status' | 'components' | 'drill' | 'declaredAt' | 'publicUpdates'
> &
  Partial<Pick<IncidentState, 'mitigatedAt' | 'resolvedAt' | 'closedAt'>>;

/** A public update as published: who posted it (`<role>:<key id>`) stays internal. */
export type PublicStatusUpdate = Omit<PublicUpdate, 'by'>;

export interface ActiveIncident {
  incidentId: string;
  title: string;
  severity: Severity;
  status: IncidentStatus;
  declaredAt: string;
  mitigatedAt?: string;
  components: string[];
  /** Newest first. */
  updates: PublicStatusUpdate[];
}

export interface StatusDay {
  /** UTC date, YYYY-MM-DD. */
  date: string;
  state: ComponentState;
}

export interface ComponentHistoryIncident {
  incidentId: string;
  title: string;
  severity: Severity;
  declaredAt: string;
  resolvedAt?: string;
  /** The worst state this incident gave the component. */
  worstState: ComponentState;
}

export interface ComponentHistory {
  component: string;
  /** STATUS_HISTORY_DAYS cells, oldest first, the last one being today (UTC). */
  days: StatusDay[];
  /** Incidents that touched the component within the window, newest first. */
  incidents: ComponentHistoryIncident[];
}

export interface StatusDocument {
  generatedAt: string;
  overall: ComponentState;
  components: Array<{ name: string; state: ComponentState }>;
  /** Open, published, non-drill incidents, newest first. */
  activeIncidents: ActiveIncident[];
  /** One entry per configured component, in configuration order. */
  history: ComponentHistory[];
}

/** `KEEL_STATUS_COMPONENTS` ("a,b,c") -> ["a","b","c"]; unset or empty -> the default list. */
export function parseStatusComponents(spec: string | undefined): string[] {
  const names = (spec ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return names.length ? [...new Set(names)] : [...DEFAULT_STATUS_COMPONENTS];
}

function isComponentState(s: unknown): s is ComponentState {
  return typeof s === 'string' && (COMPONENT_STATES as readonly string[]).includes(s);
}

function time(iso: string | undefined): number {
  return iso ? Date.parse(iso) : NaN;
}

/** Updates in publication order (by time; the array order breaks ties), without unparseable ones. */
function chronological(updates: PublicUpdate[] | undefined): PublicUpdate[] {
  return (updates ?? [])
    .map((u, i) => ({ u, i, t: time(u?.at) }))
    .filter((x) => Number.isFinite(x.t))
    .sort((a, b) => a.t - b.t || a.i - b.i)
    .map((x) => x.u);
}

function stateIn(update: PublicUpdate, component: string): ComponentState {
  const s = update.componentStates?.[component];
  return isComponentState(s) ? s : 'operational';
}

function publicUpdate(u: PublicUpdate): PublicStatusUpdate {
  const componentStates: Record<string, ComponentState> = {};
  for (const [name, s] of Object.entries(u.componentStates ?? {})) if (isComponentState(s)) componentStates[name] = s;
  return { at: u.at, message: u.message, componentStates };
}

function utcDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** When the incident stopped affecting anything: its resolution, or `now` while it is open. */
function incidentEnd(inc: StatusIncident, updates: PublicUpdate[], nowMs: number): number {
  if (isOpen(inc.status)) return nowMs;
  for (const t of [time(inc.resolvedAt), time(inc.closedAt)]) if (Number.isFinite(t)) return t;
  const last = updates[updates.length - 1];
  return last ? time(last.at) : time(inc.declaredAt);
}

interface Segment {
  from: number;
  to: number;
  state: ComponentState;
}

/** The component's state over the incident's life: each update holds until the next one or the end. */
function segments(updates: PublicUpdate[], component: string, end: number): Segment[] {
  const out: Segment[] = [];
  for (let k = 0; k < updates.length; k++) {
    const from = time(updates[k].at);
    const next = k + 1 < updates.length ? time(updates[k + 1].at) : Infinity;
    const to = Math.min(next, end);
    if (from > to) continue; // posted after the resolution: describes nothing that happened
    out.push({ from, to, state: stateIn(updates[k], component) });
  }
  return out;
}

export function buildStatusDocument(incidents: ReadonlyArray<StatusIncident>, components: string[], now: Date): StatusDocument {
  const nowMs = now.getTime();
  const names = [...new Set(components)];
  const todayStart = Math.floor(nowMs / DAY_MS) * DAY_MS;
  const windowStart = todayStart - (STATUS_HISTORY_DAYS - 1) * DAY_MS;

  const published = incidents
    .filter((inc) => inc && inc.drill !== true)
    .map((inc) => ({ inc, updates: chronological(inc.publicUpdates) }))
    .filter((x) => x.updates.length > 0 && Number.isFinite(time(x.inc.declaredAt)))
    .sort((a, b) => time(b.inc.declaredAt) - time(a.inc.declaredAt) || (a.inc.incidentId < b.inc.incidentId ? -1 : 1));

  const open = published.filter((x) => isOpen(x.inc.status));

  const componentStates = names.map((name) => ({
    name,
    state: worstState(open.map((x) => stateIn(x.updates[x.updates.length - 1], name))),
  }));

  const activeIncidents: ActiveIncident[] = open.map(({ inc, updates }) => ({
    incidentId: inc.incidentId,
    title: inc.title,
    severity: inc.severity,
    status: inc.status,
    declaredAt: inc.declaredAt,
    ...(inc.mitigatedAt ? { mitigatedAt: inc.mitigatedAt } : {}),
    components: [...(inc.components ?? [])],
    updates: [...updates].reverse().map(publicUpdate),
  }));

  const inWindow = published
    .map((x) => ({ ...x, end: incidentEnd(x.inc, x.updates, nowMs) }))
    .filter((x) => x.end >= windowStart && time(x.inc.declaredAt) <= nowMs);

  const history: ComponentHistory[] = names.map((component) => {
    const cells: ComponentState[] = Array.from({ length: STATUS_HISTORY_DAYS }, () => 'operational');
    const touched: ComponentHistoryIncident[] = [];
    for (const { inc, updates, end } of inWindow) {
      const named = (inc.components ?? []).includes(component) || updates.some((u) => u.componentStates && component in u.componentStates);
      if (!named) continue;
      const segs = segments(updates, component, end);
      for (const seg of segs) {
        if (seg.state === 'operational' || seg.to < windowStart) continue;
        const first = Math.max(0, Math.floor((seg.from - windowStart) / DAY_MS));
        const last = Math.min(STATUS_HISTORY_DAYS - 1, Math.floor((Math.min(seg.to, nowMs) - windowStart) / DAY_MS));
        for (let d = first; d <= last; d++) cells[d] = worstState([cells[d], seg.state]);
      }
      touched.push({
        incidentId: inc.incidentId,
        title: inc.title,
        severity: inc.severity,
        declaredAt: inc.declaredAt,
        ...(inc.resolvedAt ? { resolvedAt: inc.resolvedAt } : {}),
        worstState: worstState(segs.map((s) => s.state)),
      });
    }
    return {
      component,
      days: cells.map((state, d) => ({ date: utcDate(windowStart + d * DAY_MS), state })),
      incidents: touched,
    };
  });

  return {
    generatedAt: now.toISOString(),
    overall: worstState(componentStates.map((c) => c.state)),
    components: componentStates,
    activeIncidents,
    history,
  };
}

// ---------------------------------------------------------------------------------------------------
// HTML

const LABEL: Record<ComponentState, string> = {
  operational: 'Operational',
  degraded: 'Degraded performance',
  partial_outage: 'Partial outage',
  major_outage: 'Major outage',
};

const OVERALL: Record<ComponentState, string> = {
  operational: 'All systems operational',
  degraded: 'Some systems are running with degraded performance',
  partial_outage: 'Partial outage',
  major_outage: 'Major outage',
};

const STATUS_LABEL: Record<IncidentStatus, string> = {
  OPEN: 'Investigating',
  MITIGATED: 'Mitigated, monitoring',
  RESOLVED: 'Resolved',
  CLOSED: 'Resolved',
  ABANDONED: 'Closed',
};

export function escapeHtml(value: string | number | null | undefined): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** "2026-11-26 18:05 UTC" inside a <time> element; text that is not a time is shown escaped as is. */
function utcTime(iso: string | undefined): string {
  const t = time(iso);
  if (!Number.isFinite(t)) return escapeHtml(iso ?? '');
  const d = new Date(t).toISOString();
  return `<time datetime="${escapeHtml(d)}">${d.slice(0, 10)} ${d.slice(11, 16)} UTC</time>`;
}

function stateClass(s: ComponentState): string {
  return isComponentState(s) ? `s-${s.replace('_', '-')}` : 's-operational';
}

function badge(s: ComponentState): string {
  const state = isComponentState(s) ? s : 'operational';
  return `<span class="badge ${stateClass(state)}">${LABEL[state]}</span>`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "2026-11-26" -> "26 Nov 2026" (no locale data involved). */
function formatDay(date: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  const month = m ? MONTHS[Number(m[2]) - 1] : undefined;
  return m && month ? `${Number(m[3])} ${month} ${m[1]}` : date;
}

const CSS = `
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#fff;--panel:#f6f8fa;
--ok:#1a7f37;--deg:#9a6700;--deg-bg:#f2cc60;--part:#bc4c00;--major:#cf222e;--none:#e4e8ec}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:52rem;margin:0 auto;padding:1.5rem 1rem 3rem}
h1{font-size:1.6rem;margin:0 0 1rem}
h2{font-size:1.2rem;margin:2rem 0 .75rem;padding-bottom:.25rem;border-bottom:1px solid var(--line)}
h3{font-size:1.05rem;margin:0}
.muted{color:var(--muted)}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem}
.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.overall{padding:1rem 1.25rem;border-radius:.5rem;color:#fff;font-weight:600;font-size:1.15rem;margin-bottom:.5rem}
.overall.s-operational{background:var(--ok)}.overall.s-degraded{background:var(--deg-bg);color:#3b2300}
.overall.s-partial-outage{background:var(--part)}.overall.s-major-outage{background:var(--major)}
.badge{display:inline-block;padding:.1rem .6rem;border-radius:1rem;font-size:.85rem;font-weight:600;color:#fff;white-space:nowrap}
.badge.s-operational{background:var(--ok)}.badge.s-degraded{background:var(--deg-bg);color:#3b2300}
.badge.s-partial-outage{background:var(--part)}.badge.s-major-outage{background:var(--major)}
ul.components{list-style:none;margin:0;padding:0;border:1px solid var(--line);border-radius:.5rem}
ul.components li{display:flex;justify-content:space-between;align-items:center;gap:1rem;padding:.65rem 1rem;border-top:1px solid var(--line)}
ul.components li:first-child{border-top:0}
.name{font-weight:600;overflow-wrap:anywhere}
article.incident{border:1px solid var(--line);border-left:.35rem solid var(--major);border-radius:.5rem;padding:1rem;margin:0 0 1rem}
article.incident header p{margin:.25rem 0 0}
ol.updates{list-style:none;margin:.75rem 0 0;padding:0}
ol.updates li{padding:.6rem 0;border-top:1px solid var(--line)}
.message{margin:.25rem 0;white-space:pre-wrap;overflow-wrap:anywhere}
.affects{margin:0;font-size:.9rem}
section.component{margin:0 0 1.75rem}
section.component header{display:flex;justify-content:space-between;align-items:baseline;gap:1rem;margin-bottom:.4rem}
.strip{display:flex;gap:2px;height:2rem;margin:0}
.strip span{flex:1 1 0;min-width:2px;border-radius:2px;background:var(--ok)}
.strip span.s-degraded{background:#d4a72c}.strip span.s-partial-outage{background:var(--part)}.strip span.s-major-outage{background:var(--major)}
.axis{display:flex;justify-content:space-between;font-size:.8rem;color:var(--muted);margin:.2rem 0 .4rem}
ul.past{margin:.25rem 0 0;padding-left:1.2rem;font-size:.95rem}
ul.past li{margin:.15rem 0}
footer{margin-top:2.5rem;font-size:.9rem;color:var(--muted)}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--line:#3d444d;--bg:#0d1117;--panel:#151b23}}
`;

function renderActive(inc: ActiveIncident): string {
  const updates = inc.updates
    .map((u) => {
      const affected = Object.entries(u.componentStates ?? {})
        .map(([name, s]) => `${escapeHtml(name)}: ${LABEL[isComponentState(s) ? s : 'operational']}`)
        .join('; ');
      return (
        `<li>${utcTime(u.at)}<p class="message">${escapeHtml(u.message)}</p>` +
        (affected ? `<p class="affects muted">${affected}</p>` : '') +
        `</li>`
      );
    })
    .join('');
  const headingId = `incident-${escapeHtml(inc.incidentId)}`;
  return (
    `<article class="incident" aria-labelledby="${headingId}"><header>` +
    `<h3 id="${headingId}">${escapeHtml(inc.title)}</h3>` +
    `<p class="muted">${escapeHtml(inc.severity)} &middot; ${escapeHtml(STATUS_LABEL[inc.status] ?? inc.status)} &middot; ` +
    `declared ${utcTime(inc.declaredAt)}` +
    (inc.components?.length ? ` &middot; affects ${inc.components.map(escapeHtml).join(', ')}` : '') +
    `</p></header><ol class="updates" aria-label="Updates, newest first">${updates}</ol></article>`
  );
}

function renderHistory(h: ComponentHistory): string {
  const days = h.days ?? [];
  const bad = days.filter((d) => d.state !== 'operational').length;
  const summary = bad
    ? `${bad} of the last ${days.length} days with an incident`
    : `No incidents in the last ${days.length} days`;
  const cells = days
    .map((d) => `<span class="${stateClass(d.state)}" title="${escapeHtml(formatDay(d.date))}: ${LABEL[isComponentState(d.state) ? d.state : 'operational']}"></span>`)
    .join('');
  const list = h.incidents.length
    ? `<ul class="past">${h.incidents
        .map(
          (i) =>
            `<li>${utcTime(i.declaredAt)} &ndash; ${escapeHtml(i.title)} <span class="muted">(${escapeHtml(i.severity)}, ` +
            `${LABEL[isComponentState(i.worstState) ? i.worstState : 'operational'].toLowerCase()}` +
            `${i.resolvedAt ? `, resolved ${utcTime(i.resolvedAt)}` : ', ongoing'})</span></li>`,
        )
        .join('')}</ul>`
    : '';
  const first = days[0]?.date;
  return (
    `<section class="component" aria-label="${escapeHtml(h.component)}, last ${days.length} days">` +
    `<header><h3>${escapeHtml(h.component)}</h3><span class="muted">${summary}</span></header>` +
    `<div class="strip" role="img" aria-label="${escapeHtml(`${h.component}: ${summary}`)}">${cells}</div>` +
    `<div class="axis" aria-hidden="true"><span>${first ? escapeHtml(formatDay(first)) : ''}</span><span>Today</span></div>` +
    list +
    `</section>`
  );
}

/** The whole page: self-contained (inline CSS, no script, no external asset), every text escaped. */
export function renderStatusHtml(doc: StatusDocument, opts: { title?: string } = {}): string {
  const title = opts.title ?? 'Service status';
  const overall = isComponentState(doc.overall) ? doc.overall : 'operational';
  const components = doc.components
    .map((c) => `<li><span class="name">${escapeHtml(c.name)}</span>${badge(c.state)}</li>`)
    .join('');
  const active = doc.activeIncidents.length
    ? doc.activeIncidents.map(renderActive).join('')
    : '<p class="muted">No active incidents.</p>';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="30">
<meta name="color-scheme" content="light dark">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<main id="main">
<h1>${escapeHtml(title)}</h1>
<p class="overall ${stateClass(overall)}" role="status">${OVERALL[overall]}</p>
<p class="muted">Last updated ${utcTime(doc.generatedAt)}</p>
<section aria-labelledby="h-components"><h2 id="h-components">Components</h2>
<ul class="components">${components}</ul></section>
<section aria-labelledby="h-active"><h2 id="h-active">Active incidents</h2>
${active}</section>
<section aria-labelledby="h-history"><h2 id="h-history">Last ${STATUS_HISTORY_DAYS} days</h2>
${doc.history.map(renderHistory).join('\n')}</section>
<footer>Times are in UTC. This page refreshes every 30 seconds.</footer>
</main>
</body>
</html>
`;
}
