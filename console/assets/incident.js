// Keel console, /console/incidents/:id: one incident, refreshed live (GET every 2 s, paused while a
// form is being submitted). Forms are never rebuilt by a refresh, so what the user is typing stays.
// Needs window.Keel from incidents.js. Text from the API only reaches the page as text nodes.
'use strict';

(function () {
  const K = window.Keel;
  const { $, $$, el, show, timeEl, formatTime, relative, api, ApiFailure, showError, clearError, handleForm, field } = K;

  const POLL_MS = 2000;
  const ROLES = ['commander', 'deputy', 'communications', 'operations', 'scribe'];
  const COMPONENT_STATES = [
    ['operational', 'Operational'],
    ['degraded', 'Degraded performance'],
    ['partial_outage', 'Partial outage'],
    ['major_outage', 'Major outage'],
  ];
  const STATE_LABEL = Object.fromEntries(COMPONENT_STATES);

  const id = decodeURIComponent(location.pathname.replace(/\/+$/, '').split('/').pop() || '');
  const base = `/v1/incidents/${encodeURIComponent(id)}`;

  /** The newest state rendered; an older answer (a poll that raced an update) is ignored. */
  let current = null;
  let pollTimer = null;
  let polling = false;
  let gone = false;
  const steps = new Map(); // step id -> {node, parts}
  let componentsBuilt = false;
  let severityTouched = false;

  // -------------------------------------------------------------------------------------------
  // Live refresh

  function schedule(ms) {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(poll, ms === undefined ? POLL_MS : ms);
  }

  async function poll() {
    if (polling || gone) return;
    if (K.isBusy() || document.hidden) return schedule();
    polling = true;
    try {
      render(await api(base));
      clearError($('#page-error'));
    } catch (err) {
      if (err.promptShown) return; // the key prompt is up; signing in again restarts the refresh
      if (err.status === 404 || err.status === 400) {
        gone = true;
        show($('#incident-head'), false);
        show($('#incident-body'), false);
        showError($('#page-error'), err);
        return;
      }
      showError($('#page-error'), new ApiFailure(0, err.code, `Live refresh failed, retrying: ${err.message}${err.status ? ` (${err.status} ${err.code})` : ''}`));
      $('#live').textContent = 'Live refresh failed; retrying every 2 s.';
    } finally {
      polling = false;
    }
    schedule();
  }

  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) schedule(0);
  });

  /** Render an update's answer at once (every update answers with the full state). */
  function apply(state) {
    render(state);
    schedule();
  }

  // -------------------------------------------------------------------------------------------
  // Rendering

  function render(s) {
    if (current && typeof s.version === 'number' && s.version < current.version) return;
    current = s;
    show($('#incident-head'), true);
    show($('#incident-body'), true);
    document.title = `${s.drill ? 'DRILL ' : ''}${s.severity} ${s.title} · Keel console`;

    renderHeader(s);
    renderVisibility(s.status);
    renderChecklist(s);
    renderTimeline(s);
    renderRoles(s);
    renderUpdates(s);
    renderActionItems(s);
    if (!severityTouched) $('#severity-select').value = s.severity;
    $('#live').textContent = `Live: refreshed every 2 s · last ${formatTime(new Date().toISOString())} · version ${s.version}`;
  }

  function renderHeader(s) {
    $('#incident-title').textContent = s.title;
    const sev = $('#incident-severity');
    sev.textContent = s.severity;
    sev.className = `badge sev ${s.severity.toLowerCase()}`;
    const st = $('#incident-status');
    st.textContent = s.status;
    st.className = `badge status ${s.status.toLowerCase()}`;
    show($('#incident-drill'), s.drill);
    show($('#drill-note'), s.drill);

    const facts = [
      ['Incident', s.incidentId],
      ['Declared', [timeEl(s.declaredAt), ` by ${s.declaredBy}`]],
      ['Components', s.components.join(', ')],
    ];
    if (s.summary) facts.push(['Summary', s.summary]);
    if (s.mitigatedAt) facts.push(['Mitigated', timeEl(s.mitigatedAt)]);
    if (s.resolvedAt) facts.push(['Resolved', [timeEl(s.resolvedAt), s.resolutionSummary ? ` · ${s.resolutionSummary}` : '']]);
    if (s.closedAt) facts.push(['Closed', timeEl(s.closedAt)]);
    $('#incident-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', null, v)]));
    $('#runbook-version').textContent = `Runbook ${s.runbook.severity} version ${s.runbook.version} (kept from declaration)`;
  }

  function renderVisibility(status) {
    for (const node of $$('[data-show-when]')) show(node, node.dataset.showWhen.split(/\s+/).includes(status));
  }

  function renderRoles(s) {
    $('#roles').replaceChildren(
      ...ROLES.map((role) => {
        const a = s.roles[role];
        return el('tr', { 'data-testid': `role-${role}` },
          el('th', { scope: 'row', text: role }),
          el('td', { class: a ? 'holder' : 'muted', 'data-testid': 'role-holder', text: a ? a.holder : 'unassigned' }),
          el('td', null, a ? timeEl(a.since) : ''),
        );
      }),
    );
    const history = s.roleHistory || [];
    $('#role-history-box').querySelector('summary').textContent = `Chain of command (${history.length} ${history.length === 1 ? 'assignment' : 'assignments'})`;
    $('#role-history').replaceChildren(
      ...history.map((r) => el('li', null, timeEl(r.since), ` ${r.role}: ${r.holder} `, el('span', { class: 'muted', text: `(by ${r.assignedBy})` }))),
    );
  }

  // The checklist: one persistent node per step (the runbook never changes within an incident), so
  // a refresh updates the text around the Complete / Skip forms and never resets them.
  function renderChecklist(s) {
    const list = $('#checklist');
    for (const item of s.checklist) {
      let entry = steps.get(item.step.id);
      if (!entry) {
        entry = buildStep(item.step);
        steps.set(item.step.id, entry);
        list.append(entry.node);
      }
      updateStep(entry, item, s.status);
    }
  }

  function buildStep(step) {
    const parts = {
      state: el('span', { class: 'badge state', 'data-testid': 'step-state' }),
      due: el('span', { class: 'marker due', 'data-testid': 'step-due', hidden: true }),
      escalated: el('span', { class: 'marker escalated', 'data-testid': 'step-escalated', hidden: true }),
      result: el('p', { class: 'result', 'data-testid': 'step-result', hidden: true }),
      evidence: el('pre', { class: 'evidence' }),
      evidenceBox: null,
      done: el('p', { class: 'done', 'data-testid': 'step-done', hidden: true }),
      actions: null,
    };
    parts.evidenceBox = el('details', { class: 'evidence-box', hidden: true }, el('summary', { text: 'Evidence' }), parts.evidence);
    const tag = step.kind === 'auto' ? `auto check · ${step.check}` : `manual · ${step.role}`;
    const node = el('li', { class: 'step', 'data-testid': `step-${step.id}`, 'data-step-id': step.id },
      el('div', { class: 'step-head' },
        parts.state,
        el('h3', { class: 'step-title', text: step.title }),
        el('span', { class: 'tag', text: tag }),
        parts.due,
        parts.escalated,
      ),
      step.kind === 'manual' && step.instructions ? el('p', { class: 'instructions', text: step.instructions }) : null,
      parts.result,
      parts.evidenceBox,
      parts.done,
    );
    if (step.kind === 'manual') {
      const errorBox = el('p', { class: 'form-error', role: 'alert', 'data-testid': 'step-error', hidden: true });
      const noteId = `note-${step.id}`;
      const reasonId = `reason-${step.id}`;
      const complete = el('form', { class: 'step-form', 'data-testid': 'step-complete-form' },
        el('label', { for: noteId, text: 'Note (optional)' }),
        el('input', { id: noteId, name: 'note', maxlength: '2000', autocomplete: 'off', 'data-testid': 'step-note' }),
        el('button', { type: 'submit', class: 'primary', 'data-testid': 'step-complete', text: 'Complete' }),
      );
      const skip = el('form', { class: 'step-form', 'data-testid': 'step-skip-form' },
        el('label', { for: reasonId, text: 'Reason to skip' }),
        el('input', { id: reasonId, name: 'reason', maxlength: '2000', required: true, autocomplete: 'off', 'data-testid': 'step-reason' }),
        el('button', { type: 'submit', 'data-testid': 'step-skip', text: 'Skip' }),
      );
      const path = `${base}/steps/${encodeURIComponent(step.id)}`;
      handleForm(complete, async (f) => {
        apply(await api(`${path}/complete`, { method: 'POST', body: { note: field(f, 'note') } }));
        f.reset();
      }, { errorBox });
      handleForm(skip, async (f) => {
        apply(await api(`${path}/skip`, { method: 'POST', body: { reason: field(f, 'reason') ?? '' } }));
        f.reset();
      }, { errorBox });
      parts.actions = el('div', { class: 'step-actions' }, complete, skip, errorBox);
      node.append(parts.actions);
    }
    return { node, parts, step };
  }

  const STATE_TEXT = { pending: 'pending', running: 'running…', ok: 'ok', warn: 'warn', fail: 'fail', done: 'done', skipped: 'skipped' };

  function updateStep(entry, item, status) {
    const { node, parts, step } = entry;
    node.className = `step state-${item.state}`;
    parts.state.textContent = STATE_TEXT[item.state] || item.state;
    parts.state.className = `badge state ${item.state}`;

    const pending = item.state === 'pending';
    show(parts.due, Boolean(item.dueAt) && pending && !item.escalatedAt);
    if (item.dueAt) {
      parts.due.textContent = `due ${formatTime(item.dueAt)} (${relative(item.dueAt)})`;
      parts.due.title = item.dueAt;
    }
    show(parts.escalated, Boolean(item.escalatedAt));
    if (item.escalatedAt) {
      parts.escalated.textContent = `escalated ${formatTime(item.escalatedAt)}`;
      parts.escalated.title = `Not done by ${item.dueAt}: the commander and deputy were notified at ${item.escalatedAt}`;
    }

    if (step.kind === 'auto') {
      const r = item.result;
      show(parts.result, true);
      if (r) {
        parts.result.replaceChildren(el('span', { text: r.summary }), ' ', el('span', { class: 'muted', text: `· checked ${formatTime(r.checkedAt)}` }));
        parts.evidence.textContent = JSON.stringify(r.evidence, null, 2);
        show(parts.evidenceBox, r.evidence && Object.keys(r.evidence).length > 0);
      } else {
        parts.result.replaceChildren(el('span', { class: 'muted', text: item.state === 'running' ? 'Running…' : 'Not run yet.' }));
      }
    }

    const finished = item.state === 'done' || item.state === 'skipped';
    show(parts.done, finished && Boolean(item.by || item.at));
    if (finished) {
      const verb = item.state === 'done' ? 'Done' : 'Skipped';
      parts.done.replaceChildren(
        `${verb} by ${item.by || 'unknown'} `, item.at ? timeEl(item.at) : '',
        item.note ? el('span', { class: 'note', text: ` · ${item.note}` }) : '',
      );
    }
    if (parts.actions) show(parts.actions, step.kind === 'manual' && pending && status !== 'CLOSED');
  }

  let timelineSeq = -1;
  function renderTimeline(s) {
    const last = s.timeline.length ? s.timeline[s.timeline.length - 1].seq : 0;
    if (last === timelineSeq) return; // unchanged: leave the DOM (and any text selection) alone
    timelineSeq = last;
    const entries = s.timeline.slice().reverse();
    $('#timeline').replaceChildren(
      ...entries.map((e) =>
        el('li', { class: `entry kind-${e.kind}`, 'data-testid': 'timeline-entry', 'data-kind': e.kind, 'data-seq': String(e.seq) },
          el('span', { class: 'when' }, timeEl(e.at)),
          el('span', { class: `badge kind ${e.kind}`, text: e.kind.replace(/_/g, ' ') }),
          el('span', { class: 'text', text: e.text }),
          el('span', { class: 'actor muted', text: e.actor }),
        ),
      ),
    );
  }

  function renderUpdates(s) {
    if (!componentsBuilt) buildComponentSelects(s);
    const updates = s.publicUpdates.slice().reverse();
    show($('#updates-empty'), updates.length === 0);
    $('#updates').replaceChildren(
      ...updates.map((u) =>
        el('li', { 'data-testid': 'public-update' },
          el('div', { class: 'muted small' }, timeEl(u.at), ` · ${u.by}`),
          el('p', { class: 'message', text: u.message }),
          el('ul', { class: 'component-list' },
            Object.entries(u.componentStates).map(([name, state]) =>
              el('li', null, el('span', { text: `${name} ` }), el('span', { class: `badge cs ${state}`, text: STATE_LABEL[state] || state })),
            ),
          ),
        ),
      ),
    );
  }

  /** One state select per component of the incident, preset from the latest update; built once. */
  function buildComponentSelects(s) {
    componentsBuilt = true;
    const latest = s.publicUpdates.length ? s.publicUpdates[s.publicUpdates.length - 1].componentStates : {};
    $('#update-components').replaceChildren(
      ...s.components.map((name, i) => {
        const selectId = `cs-${i}`;
        const select = el('select', { id: selectId, name: `component:${name}`, 'data-component': name, 'data-testid': `update-component-${name}` },
          COMPONENT_STATES.map(([value, label]) => el('option', { value, text: label })));
        select.value = latest[name] || 'operational';
        return el('div', { class: 'component-state' }, el('label', { for: selectId, text: name }), select);
      }),
    );
  }

  function renderActionItems(s) {
    show($('#action-items-empty'), s.actionItems.length === 0);
    $('#action-items').replaceChildren(
      ...s.actionItems.map((a) =>
        el('li', { 'data-testid': 'action-item' },
          el('span', { class: 'text', text: a.title }),
          el('span', { class: 'muted', text: ` · ${a.owner} · due ${a.dueDate}` }),
        ),
      ),
    );
  }

  // -------------------------------------------------------------------------------------------
  // Forms

  const post = (path, body) => api(`${base}${path}`, { method: 'POST', body });

  function wireForms() {
    handleForm($('#checks-form'), async () => apply(await post('/checks/run', {})), { errorBox: $('#checks-error') });

    handleForm($('#note-form'), async (f) => {
      apply(await post('/notes', { text: field(f, 'text') ?? '' }));
      f.reset();
    });

    handleForm($('#role-form'), async (f) => {
      apply(await post('/roles', { role: f.elements.namedItem('role').value, holder: field(f, 'holder') ?? '' }));
      f.elements.namedItem('holder').value = '';
    });

    handleForm($('#update-form'), async (f) => {
      const componentStates = {};
      for (const select of $$('select[data-component]', f)) componentStates[select.dataset.component] = select.value;
      apply(await post('/status-updates', { message: field(f, 'message') ?? '', componentStates }));
      f.elements.namedItem('message').value = '';
    });

    $('#severity-select').addEventListener('change', () => (severityTouched = true));
    handleForm($('#severity-form'), async (f) => {
      apply(await post('/severity', { severity: f.elements.namedItem('severity').value, reason: field(f, 'reason') }));
      f.elements.namedItem('reason').value = '';
      severityTouched = false;
    });

    handleForm($('#mitigate-form'), async (f) => {
      apply(await post('/mitigate', { note: field(f, 'note') }));
      f.reset();
    });

    handleForm($('#resolve-form'), async (f) => {
      apply(await post('/resolve', { summary: field(f, 'summary') ?? '' }));
      f.reset();
    });

    handleForm($('#action-form'), async (f) => {
      apply(await post('/action-items', { title: field(f, 'title') ?? '', owner: field(f, 'owner') ?? '', dueDate: f.elements.namedItem('dueDate').value }));
      f.reset();
    });

    handleForm($('#close-form'), async (f) => {
      const body = {};
      for (const name of ['impact', 'whatWentWell', 'whatWasHard', 'whereWeGotLucky', 'contributingFactors']) {
        const v = field(f, name);
        if (v !== undefined) body[name] = v;
      }
      apply(await post('/close', body));
      f.reset();
    });

    // The post-mortem needs the key, so it is fetched and shown here rather than linked to.
    const pmLink = $('[data-action="postmortem"]');
    pmLink.addEventListener('click', async (ev) => {
      ev.preventDefault();
      await loadPostmortem();
      $('#postmortem').scrollIntoView({ block: 'start' });
    });
    $('#postmortem-refresh').addEventListener('click', loadPostmortem);
  }

  let downloadUrl = null;
  async function loadPostmortem() {
    const section = $('#postmortem');
    const box = $('#postmortem-error');
    show(section, true);
    try {
      const text = await api(`${base}/postmortem`, { accept: 'text/markdown' });
      clearError(box);
      $('#postmortem-text').textContent = text;
      if (downloadUrl) URL.revokeObjectURL(downloadUrl);
      downloadUrl = URL.createObjectURL(new Blob([text], { type: 'text/markdown' }));
      const a = $('#postmortem-download');
      a.href = downloadUrl;
      a.download = `postmortem-${id}.md`;
      show(a, true);
    } catch (err) {
      showError(box, err);
    }
  }

  // -------------------------------------------------------------------------------------------

  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) {
    show($('#main'), true);
    showError($('#page-error'), new ApiFailure(0, 'NOT_FOUND', `"${id}" is not an incident id.`));
    return;
  }
  wireForms();
  K.initAuth(() => {
    gone = false;
    schedule(0);
  });
})();
