// The status page's derivation rules and its HTML, without any I/O.
import type { ComponentState, IncidentState, PublicUpdate } from '../../domain/incident';
import {
  buildStatusDocument,
  DEFAULT_STATUS_COMPONENTS,
  escapeHtml,
  parseStatusComponents,
  renderStatusHtml,
  STATUS_HISTORY_DAYS,
  type StatusDocument,
} from '../../domain/status-page';

const COMPONENTS = ['booking-api', 'car-unlock', 'payments'];
const NOW = new Date('2026-11-26T12:00:00.000Z');
const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();
const ago = (ms: number) => iso(NOW.getTime() - ms);

function update(at: string, componentStates: Record<string, ComponentState>, message = 'update'): PublicUpdate {
  return { at, message, componentStates, by: 'communications:abcd1234' };
}

let seq = 0;
function incident(p: Partial<IncidentState> & { publicUpdates: PublicUpdate[] }): IncidentState {
  const id = p.incidentId ?? `inc-${++seq}`;
  return {
    incidentId: id,
    workflowId: `incident-${id}`,
    title: `Incident ${id}`,
    severity: 'SEV2',
    status: 'OPEN',
    components: [],
    drill: false,
    declaredAt: p.publicUpdates[0]?.at ?? ago(60_000),
    declaredBy: 'commander:abcd1234',
    runbook: { severity: 'SEV2', version: '1+abc' },
    roles: {},
    roleHistory: [],
    checklist: [],
    timeline: [],
    actionItems: [],
    retrospective: {},
    version: 1,
    ...p,
  };
}

const stateOf = (doc: StatusDocument, name: string) => doc.components.find((c) => c.name === name)?.state;
const daysOf = (doc: StatusDocument, name: string) => doc.history.find((h) => h.component === name)!.days;

describe('component states', () => {
  test('no incidents: everything operational, in configuration order', () => {
    const doc = buildStatusDocument([], COMPONENTS, NOW);
    expect(doc.overall).toBe('operational');
    expect(doc.components).toEqual(COMPONENTS.map((name) => ({ name, state: 'operational' })));
    expect(doc.activeIncidents).toEqual([]);
    expect(doc.generatedAt).toBe(NOW.toISOString());
    expect(doc.history.map((h) => h.component)).toEqual(COMPONENTS);
  });

  test('only the LATEST public update of an incident counts', () => {
    const inc = incident({
      components: ['payments'],
      publicUpdates: [update(ago(3_600_000), { payments: 'major_outage' }), update(ago(600_000), { payments: 'degraded' })],
    });
    const doc = buildStatusDocument([inc], COMPONENTS, NOW);
    expect(stateOf(doc, 'payments')).toBe('degraded');
    expect(doc.overall).toBe('degraded');
  });

  test('a component the latest update no longer names is operational for that incident', () => {
    const inc = incident({
      publicUpdates: [update(ago(3_600_000), { payments: 'major_outage', 'car-unlock': 'degraded' }), update(ago(600_000), { 'car-unlock': 'degraded' })],
    });
    const doc = buildStatusDocument([inc], COMPONENTS, NOW);
    expect(stateOf(doc, 'payments')).toBe('operational');
    expect(stateOf(doc, 'car-unlock')).toBe('degraded');
  });

  test('the worst state across open incidents wins; the latest is found by time, not array order', () => {
    const a = incident({ publicUpdates: [update(ago(600_000), { payments: 'degraded', 'booking-api': 'partial_outage' })] });
    const b = incident({
      status: 'MITIGATED',
      // Stored out of order: the later one (degraded) is the latest.
      publicUpdates: [update(ago(60_000), { payments: 'partial_outage' }), update(ago(1_200_000), { payments: 'major_outage' })],
    });
    const doc = buildStatusDocument([a, b], COMPONENTS, NOW);
    expect(stateOf(doc, 'payments')).toBe('partial_outage');
    expect(stateOf(doc, 'booking-api')).toBe('partial_outage');
    expect(stateOf(doc, 'car-unlock')).toBe('operational');
    expect(doc.overall).toBe('partial_outage');
  });

  test('overall is the worst component state', () => {
    const a = incident({ publicUpdates: [update(ago(600_000), { payments: 'degraded' })] });
    const b = incident({ publicUpdates: [update(ago(600_000), { 'car-unlock': 'major_outage' })] });
    expect(buildStatusDocument([a, b], COMPONENTS, NOW).overall).toBe('major_outage');
  });

  test('resolved and closed incidents no longer count', () => {
    const resolved = incident({
      status: 'RESOLVED',
      resolvedAt: ago(60_000),
      publicUpdates: [update(ago(3_600_000), { payments: 'major_outage' })],
    });
    const closed = incident({
      status: 'CLOSED',
      resolvedAt: ago(2 * DAY),
      closedAt: ago(DAY),
      publicUpdates: [update(ago(3 * DAY), { 'car-unlock': 'major_outage' })],
    });
    const doc = buildStatusDocument([resolved, closed], COMPONENTS, NOW);
    expect(doc.components.every((c) => c.state === 'operational')).toBe(true);
    expect(doc.overall).toBe('operational');
    expect(doc.activeIncidents).toEqual([]);
  });

  test('drills are ignored everywhere', () => {
    const drill = incident({ drill: true, components: ['payments'], publicUpdates: [update(ago(600_000), { payments: 'major_outage' })] });
    const doc = buildStatusDocument([drill], COMPONENTS, NOW);
    expect(doc).toEqual(buildStatusDocument([], COMPONENTS, NOW));
  });

  test('an incident without any public update is not published', () => {
    const quiet = incident({ components: ['payments'], title: 'internal only', publicUpdates: [] });
    const doc = buildStatusDocument([quiet], COMPONENTS, NOW);
    expect(doc).toEqual(buildStatusDocument([], COMPONENTS, NOW));
  });

  test('components outside the configured list and invalid states do not leak into the component list', () => {
    const inc = incident({
      publicUpdates: [update(ago(600_000), { 'secret-db': 'major_outage', payments: 'on_fire' as ComponentState })],
    });
    const doc = buildStatusDocument([inc], COMPONENTS, NOW);
    expect(doc.components.map((c) => c.name)).toEqual(COMPONENTS);
    expect(doc.overall).toBe('operational');
    expect(doc.activeIncidents[0].updates[0].componentStates).toEqual({ 'secret-db': 'major_outage' });
  });
});

describe('active incidents', () => {
  test('open published incidents, newest first, with updates newest first and without the internal author', () => {
    const older = incident({ incidentId: 'older', declaredAt: ago(2 * 3_600_000), publicUpdates: [update(ago(3_600_000), { payments: 'degraded' }, 'looking')] });
    const newer = incident({
      incidentId: 'newer',
      severity: 'SEV1',
      status: 'MITIGATED',
      components: ['car-unlock'],
      declaredAt: ago(1_800_000),
      publicUpdates: [update(ago(1_200_000), { 'car-unlock': 'major_outage' }, 'first'), update(ago(300_000), { 'car-unlock': 'degraded' }, 'second')],
    });
    const doc = buildStatusDocument([older, newer], COMPONENTS, NOW);
    expect(doc.activeIncidents.map((i) => i.incidentId)).toEqual(['newer', 'older']);
    const [n] = doc.activeIncidents;
    expect(n).toMatchObject({ severity: 'SEV1', status: 'MITIGATED', components: ['car-unlock'], declaredAt: ago(1_800_000) });
    expect(n.updates.map((u) => u.message)).toEqual(['second', 'first']);
    expect(n.updates[0]).toEqual({ at: ago(300_000), message: 'second', componentStates: { 'car-unlock': 'degraded' } });
    expect(JSON.stringify(doc)).not.toContain('communications:abcd1234');
  });
});

describe('90-day history', () => {
  test('90 UTC day cells, oldest first, the last one today', () => {
    const days = daysOf(buildStatusDocument([], COMPONENTS, NOW), 'payments');
    expect(days).toHaveLength(STATUS_HISTORY_DAYS);
    expect(days[days.length - 1].date).toBe('2026-11-26');
    expect(days[0].date).toBe('2026-08-29');
    expect(days.every((d) => d.state === 'operational')).toBe(true);
  });

  test('each day takes the worst state in effect during it; an update holds until the next one or the resolution', () => {
    // Declared 2026-11-20 22:00, major until 11-21 02:00, then degraded until resolved 11-22 10:00.
    const inc = incident({
      incidentId: 'multi-day',
      status: 'RESOLVED',
      components: ['payments'],
      declaredAt: '2026-11-20T22:00:00.000Z',
      resolvedAt: '2026-11-22T10:00:00.000Z',
      publicUpdates: [
        update('2026-11-20T22:05:00.000Z', { payments: 'major_outage' }),
        update('2026-11-21T02:00:00.000Z', { payments: 'degraded' }),
        // Posted after the resolution: describes nothing that happened.
        update('2026-11-23T09:00:00.000Z', { payments: 'major_outage' }),
      ],
    });
    const days = Object.fromEntries(daysOf(buildStatusDocument([inc], COMPONENTS, NOW), 'payments').map((d) => [d.date, d.state]));
    expect(days['2026-11-19']).toBe('operational');
    expect(days['2026-11-20']).toBe('major_outage');
    expect(days['2026-11-21']).toBe('major_outage'); // 00:00-02:00 still major
    expect(days['2026-11-22']).toBe('degraded');
    expect(days['2026-11-23']).toBe('operational');
    // Other components keep a clean strip.
    expect(daysOf(buildStatusDocument([inc], COMPONENTS, NOW), 'booking-api').every((d) => d.state === 'operational')).toBe(true);
  });

  test('an open incident colours every day up to today', () => {
    const inc = incident({ declaredAt: ago(3 * DAY), publicUpdates: [update(ago(3 * DAY), { 'car-unlock': 'partial_outage' })] });
    const days = daysOf(buildStatusDocument([inc], COMPONENTS, NOW), 'car-unlock');
    expect(days.slice(-4).map((d) => d.state)).toEqual(['partial_outage', 'partial_outage', 'partial_outage', 'partial_outage']);
    expect(days[days.length - 5].state).toBe('operational');
  });

  test('incidents per component: within the window, newest first, with their worst state for that component', () => {
    const recent = incident({
      incidentId: 'recent',
      status: 'RESOLVED',
      components: ['payments', 'booking-api'],
      declaredAt: ago(2 * DAY),
      resolvedAt: ago(DAY),
      publicUpdates: [update(ago(2 * DAY), { payments: 'partial_outage', 'booking-api': 'degraded' }), update(ago(1.5 * DAY), { payments: 'major_outage' })],
    });
    const older = incident({
      incidentId: 'older',
      status: 'CLOSED',
      components: ['payments'],
      declaredAt: ago(80 * DAY),
      resolvedAt: ago(79 * DAY),
      publicUpdates: [update(ago(80 * DAY), { payments: 'degraded' })],
    });
    const tooOld = incident({
      incidentId: 'too-old',
      status: 'CLOSED',
      components: ['payments'],
      declaredAt: ago(120 * DAY),
      resolvedAt: ago(119 * DAY),
      publicUpdates: [update(ago(120 * DAY), { payments: 'major_outage' })],
    });
    const straddling = incident({
      incidentId: 'straddling',
      status: 'RESOLVED',
      components: ['car-unlock'],
      declaredAt: ago(95 * DAY),
      resolvedAt: ago(88 * DAY),
      publicUpdates: [update(ago(95 * DAY), { 'car-unlock': 'degraded' })],
    });
    const doc = buildStatusDocument([older, tooOld, recent, straddling], COMPONENTS, NOW);
    const payments = doc.history.find((h) => h.component === 'payments')!;
    expect(payments.incidents.map((i) => [i.incidentId, i.worstState])).toEqual([
      ['recent', 'major_outage'],
      ['older', 'degraded'],
    ]);
    expect(payments.incidents[0]).toEqual({
      incidentId: 'recent',
      title: 'Incident recent',
      severity: 'SEV2',
      declaredAt: ago(2 * DAY),
      resolvedAt: ago(DAY),
      worstState: 'major_outage',
    });
    const bookingApi = doc.history.find((h) => h.component === 'booking-api')!;
    expect(bookingApi.incidents.map((i) => [i.incidentId, i.worstState])).toEqual([['recent', 'degraded']]);
    // Declared before the window but resolved inside it: listed, and its days inside the window coloured.
    const carUnlock = doc.history.find((h) => h.component === 'car-unlock')!;
    expect(carUnlock.incidents.map((i) => i.incidentId)).toEqual(['straddling']);
    expect(carUnlock.days[0].state).toBe('degraded');
    expect(carUnlock.days.filter((d) => d.state !== 'operational')).toHaveLength(2); // 29 and 30 Aug
    expect(payments.days.filter((d) => d.state !== 'operational').map((d) => d.date)).toEqual([
      iso(NOW.getTime() - 80 * DAY).slice(0, 10),
      iso(NOW.getTime() - 79 * DAY).slice(0, 10),
      iso(NOW.getTime() - 2 * DAY).slice(0, 10),
      iso(NOW.getTime() - DAY).slice(0, 10),
    ]);
  });

  test('the window is relative to now: an incident drops off after 90 days', () => {
    const inc = incident({
      status: 'CLOSED',
      components: ['payments'],
      declaredAt: '2026-08-29T10:00:00.000Z',
      resolvedAt: '2026-08-29T11:00:00.000Z',
      publicUpdates: [update('2026-08-29T10:00:00.000Z', { payments: 'degraded' })],
    });
    const onLastDay = buildStatusDocument([inc], COMPONENTS, NOW);
    expect(daysOf(onLastDay, 'payments')[0]).toEqual({ date: '2026-08-29', state: 'degraded' });
    const nextDay = buildStatusDocument([inc], COMPONENTS, new Date(NOW.getTime() + DAY));
    expect(daysOf(nextDay, 'payments').every((d) => d.state === 'operational')).toBe(true);
    expect(nextDay.history.find((h) => h.component === 'payments')!.incidents).toEqual([]);
  });
});

describe('configuration', () => {
  test('KEEL_STATUS_COMPONENTS parsing', () => {
    expect(parseStatusComponents(undefined)).toEqual([...DEFAULT_STATUS_COMPONENTS]);
    expect(parseStatusComponents('  ')).toEqual([...DEFAULT_STATUS_COMPONENTS]);
    expect(parseStatusComponents(' a, b ,,a')).toEqual(['a', 'b']);
    expect(DEFAULT_STATUS_COMPONENTS).toEqual(['booking-api', 'car-unlock', 'payments', 'notifications', 'customer-app']);
  });
});

describe('HTML', () => {
  const evil = '<script>alert("x")</script>';
  const inc = incident({
    incidentId: 'xss',
    title: evil,
    components: ['payments'],
    publicUpdates: [update(ago(600_000), { payments: 'major_outage' }, `We are on it & <img src=x onerror=alert(1)>`)],
  });
  const doc = buildStatusDocument([inc], [...COMPONENTS, '<b>evil-component</b>'], NOW);
  const html = renderStatusHtml(doc, { title: 'Acme "status" <page>' });

  test('every text is escaped', () => {
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<b>evil');
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(html).toContain('We are on it &amp; &lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('<title>Acme &quot;status&quot; &lt;page&gt;</title>');
    expect(escapeHtml(`'"<>&`)).toBe('&#39;&quot;&lt;&gt;&amp;');
  });

  test('self-contained: no script, no external asset, refreshes itself', () => {
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<html lang="en">');
    expect(html).toContain('<meta http-equiv="refresh" content="30">');
    expect(html).not.toMatch(/<script|<link|src=["']?https?:|href=["']?https?:|@import|url\(/i);
  });

  test('shows components with labels, the active incident with UTC times, and "Last updated"', () => {
    expect(html).toContain('Last updated <time datetime="2026-11-26T12:00:00.000Z">2026-11-26 12:00 UTC</time>');
    expect(html).toMatch(/<span class="name">payments<\/span><span class="badge s-major-outage">Major outage<\/span>/);
    expect(html).toMatch(/<span class="name">booking-api<\/span><span class="badge s-operational">Operational<\/span>/);
    expect(html).toContain('<p class="overall s-major-outage" role="status">Major outage</p>');
    expect(html).toContain('2026-11-26 11:50 UTC');
    expect(html).toContain('Active incidents');
  });

  test('one strip cell per day per component, coloured by state, with a text alternative', () => {
    const strips = html.match(/<div class="strip"[^>]*>.*?<\/div>/g) ?? [];
    expect(strips).toHaveLength(COMPONENTS.length + 1);
    for (const s of strips) expect(s.match(/<span /g)).toHaveLength(STATUS_HISTORY_DAYS);
    const payments = strips.find((s) => s.includes('aria-label="payments:'))!;
    expect(payments).toContain('role="img"');
    expect(payments).toContain('<span class="s-major-outage" title="26 Nov 2026: Major outage"></span>');
    expect(payments.match(/s-operational/g)).toHaveLength(STATUS_HISTORY_DAYS - 1);
  });

  test('quiet page', () => {
    const quiet = renderStatusHtml(buildStatusDocument([], COMPONENTS, NOW));
    expect(quiet).toContain('All systems operational');
    expect(quiet).toContain('No active incidents.');
    expect(quiet).toContain('<title>Service status</title>');
  });
});
