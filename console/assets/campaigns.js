// Keel console, campaign pages: /console/campaigns (the create form) and /console/campaigns/:id (live
// progress and controls). Needs window.Keel from incidents.js, loaded first. Text from the API only
// ever reaches the page through textContent / text nodes, never innerHTML.
'use strict';

(function () {
  const K = window.Keel;
  const { $, $$, el, show, timeEl, formatTime, relative, api, ApiFailure, showError, clearError } = K;

  // Must match incidents.js, which owns the key prompt.
  const KEY_STORAGE = 'keel.console.apiKey';
  const DRAFT_STORAGE = 'keel.console.campaignDraft';
  const RECENT_STORAGE = 'keel.console.recentCampaigns';
  const ID_SHAPE = /^[A-Za-z0-9_-]{1,100}$/;
  const USER_ID_SHAPE = /^[A-Za-z0-9_-]{1,64}$/;
  const ACTIVE = ['SCHEDULED', 'RUNNING', 'PAUSED'];
  const TERMINAL = ['COMPLETED', 'CANCELLED', 'FAILED'];

  // ---------------------------------------------------------------------------------------------
  // Helpers the shared file does not have

  function storageGet(name) {
    try {
      return sessionStorage.getItem(name);
    } catch {
      return null;
    }
  }
  function storageSet(name, value) {
    try {
      if (value === null) sessionStorage.removeItem(name);
      else sessionStorage.setItem(name, value);
    } catch {
      // storage disabled: drafts and the recent list live for this page only
    }
  }
  function storageJson(name) {
    try {
      return JSON.parse(storageGet(name) || 'null');
    } catch {
      return null;
    }
  }

  /** A v4 UUID: crypto.randomUUID where the browser has it (secure contexts only), else the same from getRandomValues. */
  function uuid() {
    if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  /** The campaign id is the idempotency key; this prefix says it came from the console. */
  const newIdempotencyKey = () => `console-${uuid()}`;

  /**
   * Like Keel.api, with extra request headers (Keel.api has no option for them): the create call
   * must carry Idempotency-Key. Same errors: ApiFailure, and a 401 brings back the key prompt.
   */
  async function apiWithHeaders(path, { method = 'POST', body, headers = {} } = {}) {
    const key = storageGet(KEY_STORAGE);
    if (!key) {
      K.requireKey('Enter an API key to continue.');
      const failure = new ApiFailure(401, 'UNAUTHORIZED', 'no API key');
      failure.promptShown = true;
      throw failure;
    }
    const all = { ...headers, Authorization: `Bearer ${key}`, Accept: 'application/json' };
    if (body !== undefined) all['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(path, {
        method, headers: all, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store', credentials: 'omit',
      });
    } catch (err) {
      throw new ApiFailure(0, 'NETWORK', `could not reach the API (${err && err.message ? err.message : err})`);
    }
    const type = res.headers.get('content-type') || '';
    const data = type.includes('json') ? await res.json().catch(() => null) : await res.text().catch(() => '');
    if (res.ok) return data;
    const e = (data && typeof data === 'object' && data.error) || {};
    const failure = new ApiFailure(res.status, e.code || `HTTP_${res.status}`, e.message || res.statusText || 'request failed', e.details);
    if (res.status === 401) {
      failure.promptShown = true;
      K.requireKey(`The API refused this key (${failure.message}). Enter a valid key.`);
    }
    throw failure;
  }

  /** A GET through Keel.api; its 403 prompt speaks of incidents, so say what campaigns need instead. */
  async function read(path) {
    try {
      return await api(path);
    } catch (err) {
      if (err && err.status === 403 && err.promptShown) {
        const box = $('#signin-message');
        if (box) box.textContent = `This key may not read campaigns (${err.message}). Sign in with a service, operator or viewer key.`;
      }
      throw err;
    }
  }

  let busyCount = 0;
  const isBusy = () => busyCount > 0 || K.isBusy();

  /**
   * One submission at a time: the buttons disable synchronously in the submit event (before any
   * await), so a double click or a repeated requestSubmit() sends one request. Like Keel.handleForm,
   * plus afterError (to add to the error box) and afterEnable (to re-apply state-based disabling).
   */
  function submitOnce(form, run, opts) {
    const options = opts || {};
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (form.dataset.busy === '1') return;
      form.dataset.busy = '1';
      const buttons = $$('button', form);
      buttons.forEach((b) => (b.disabled = true));
      form.setAttribute('aria-busy', 'true');
      const box = options.errorBox || $('.form-error', form);
      busyCount += 1;
      let ok = false;
      try {
        clearError(box);
        await run(form, ev.submitter);
        ok = true;
      } catch (err) {
        showError(box, err);
        if (options.afterError) options.afterError(box, err);
      } finally {
        busyCount -= 1;
        form.removeAttribute('aria-busy');
        if (!(ok && options.keepDisabledOnSuccess)) {
          form.dataset.busy = '';
          buttons.forEach((b) => (b.disabled = false));
          if (options.afterEnable) options.afterEnable();
        }
      }
    });
  }

  const numberFormat = new Intl.NumberFormat('en-GB');
  const num = (n) => (typeof n === 'number' && Number.isFinite(n) ? numberFormat.format(n) : '–');

  /** "45 s", "3 min 20 s", "2 h 05 min". */
  function duration(seconds) {
    if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return '–';
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
    return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
  }

  const campaignPath = (id) => `/console/campaigns/${encodeURIComponent(id)}`;

  function rememberCampaign(id, name) {
    const list = (storageJson(RECENT_STORAGE) || []).filter((c) => c && c.id !== id);
    list.unshift({ id, name, at: new Date().toISOString() });
    storageSet(RECENT_STORAGE, JSON.stringify(list.slice(0, 10)));
  }

  // ---------------------------------------------------------------------------------------------
  // /console/campaigns: the create form

  function campaignsPage() {
    const form = $('#campaign-form');
    const keyInput = $('#c-key');
    // By its test id: the preview has an error box of its own inside the same form.
    const errorBox = $('[data-testid="campaign-error"]', form);
    const FIELDS = ['name', 'channel', 'subject', 'body', 'userIds', 'promoPoolId', 'ratePerSecond', 'sendAt'];
    let formKey = '';

    try {
      const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (zone) $('#c-zone').textContent = ` (${zone})`;
    } catch {
      // no zone name: the help text stays generic
    }

    const input = (name) => form.elements.namedItem(name);
    const audienceMode = () => (($('input[name="audienceMode"]:checked', form) || {}).value === 'list' ? 'list' : 'all');

    function syncAudience() {
      const ids = input('userIds');
      ids.disabled = audienceMode() !== 'list';
      ids.required = !ids.disabled;
    }

    function formValues() {
      const values = {};
      for (const f of FIELDS) values[f] = input(f).value;
      values.audienceMode = audienceMode();
      values.marketing = input('marketing').checked;
      return values;
    }

    /** The form's state and its key survive a reload of this tab, until a campaign is created from them. */
    function saveDraft() {
      storageSet(DRAFT_STORAGE, JSON.stringify({ key: formKey, values: formValues() }));
    }

    function restore(values) {
      for (const f of FIELDS) if (typeof values[f] === 'string') input(f).value = values[f];
      for (const r of $$('input[name="audienceMode"]', form)) r.checked = r.value === (values.audienceMode === 'list' ? 'list' : 'all');
      input('marketing').checked = values.marketing === true;
    }

    /** Open the form: the draft's key and values if this tab has one, else a new key. */
    function openForm(fresh) {
      const draft = fresh ? null : storageJson(DRAFT_STORAGE);
      form.reset();
      clearError(errorBox);
      if (draft && typeof draft.key === 'string' && ID_SHAPE.test(draft.key)) {
        formKey = draft.key;
        if (draft.values && typeof draft.values === 'object') restore(draft.values);
      } else {
        formKey = newIdempotencyKey();
      }
      keyInput.value = formKey;
      syncAudience();
      saveDraft();
      form.dataset.busy = '';
      $$('button', form).forEach((b) => (b.disabled = false));
    }

    /** The request body, or an ApiFailure naming the fields to fix (nothing is sent then). */
    function buildBody() {
      const v = formValues();
      const problems = [];
      const name = v.name.trim();
      if (!name) problems.push({ field: 'name', message: 'required' });
      if (!v.body.trim()) problems.push({ field: 'message', message: 'required' });
      let audience = { all: true };
      if (v.audienceMode === 'list') {
        const ids = [...new Set(v.userIds.split(/[\s,;]+/).filter(Boolean))];
        const bad = ids.filter((id) => !USER_ID_SHAPE.test(id));
        if (!ids.length) problems.push({ field: 'user ids', message: 'enter at least one user id, or choose all users' });
        else if (bad.length) problems.push({ field: 'user ids', message: `not user ids (1-64 of A-Z, a-z, 0-9, _ or -): ${bad.slice(0, 10).join(', ')}${bad.length > 10 ? ', …' : ''}` });
        audience = { userIds: ids };
      }
      const pool = v.promoPoolId.trim();
      if (pool && !USER_ID_SHAPE.test(pool)) problems.push({ field: 'promo pool id', message: '1-64 characters of A-Z, a-z, 0-9, _ or -' });
      let rate;
      if (v.ratePerSecond.trim() !== '') {
        rate = Number(v.ratePerSecond);
        if (!Number.isInteger(rate) || rate < 1 || rate > 100000) problems.push({ field: 'rate per second', message: 'a whole number from 1 to 100000, or empty for no limit' });
      }
      let sendAt;
      if (v.sendAt) {
        const d = new Date(v.sendAt); // datetime-local: this browser's local time
        if (Number.isNaN(d.getTime())) problems.push({ field: 'send at', message: 'not a date and time' });
        else sendAt = d.toISOString();
      }
      if (problems.length) throw new ApiFailure(0, 'VALIDATION', 'Fix the form first (nothing was sent):', { fields: problems });
      const template = { body: v.body };
      if (v.subject.trim()) template.subject = v.subject;
      const body = { name, channel: v.channel, template, audience };
      if (pool) body.promoPoolId = pool;
      if (sendAt) body.sendAt = sendAt;
      if (rate !== undefined) body.ratePerSecond = rate;
      body.marketing = v.marketing;
      return body;
    }

    submitOnce(
      form,
      async () => {
        const body = buildBody();
        const key = formKey;
        const res = await apiWithHeaders('/v1/campaigns', { method: 'POST', body, headers: { 'Idempotency-Key': key } });
        const id = (res && res.campaignId) || key;
        // Created (202) or found (200): this form is done; the next one gets a new key.
        storageSet(DRAFT_STORAGE, null);
        rememberCampaign(id, body.name);
        location.assign(campaignPath(id));
      },
      {
        keepDisabledOnSuccess: true,
        errorBox,
        afterError: (box, err) => {
          if (err && err.status === 409 && err.code === 'DUPLICATE_CONFLICT') {
            // The first submit of this form reached the API (its answer was lost), then the form changed.
            box.append(
              el('p', { class: 'hint' },
                'This form already created a campaign with its earlier content: ',
                el('a', { href: campaignPath(formKey), 'data-testid': 'conflict-link', text: 'open that campaign' }),
                ', or put the earlier content back, or use “Start a new form” to create another campaign.'),
            );
          }
        },
      },
    );

    // Preview: the template as one recipient gets it (POST /v1/campaigns/preview), or the API's refusal.
    const previewButton = $('#preview');
    const previewError = $('[data-testid="preview-error"]', form);
    const previewResult = $('#preview-result');
    let previewSeq = 0; // only the answer to the latest click is shown
    async function preview() {
      const seq = ++previewSeq;
      const v = formValues();
      clearError(previewError);
      show(previewResult, false);
      const template = { body: v.body };
      if (v.subject.trim()) template.subject = v.subject;
      const userId = input('previewUserId').value.trim();
      const body = userId ? { template, userId } : { template };
      previewButton.setAttribute('aria-busy', 'true');
      try {
        if (!v.body.trim()) throw new ApiFailure(0, 'VALIDATION', 'Write a message first.');
        const res = await api('/v1/campaigns/preview', { method: 'POST', body });
        if (seq !== previewSeq) return;
        $('#preview-subject').textContent = res.subject === null ? '(no subject)' : res.subject;
        $('#preview-body').textContent = res.body;
        show(previewResult, true);
      } catch (err) {
        if (seq === previewSeq) showError(previewError, err);
      } finally {
        if (seq === previewSeq) previewButton.removeAttribute('aria-busy');
      }
    }
    previewButton.addEventListener('click', () => void preview());
    // Enter in the preview's own field previews; it must not submit (create) the campaign.
    input('previewUserId').addEventListener('keydown', (ev) => {
      if (ev.key !== 'Enter') return;
      ev.preventDefault();
      void preview();
    });

    form.addEventListener('input', saveDraft);
    form.addEventListener('change', () => {
      syncAudience();
      saveDraft();
    });

    $('#new-form').addEventListener('click', () => {
      if (form.dataset.busy === '1') return; // a submission of this key is on its way
      openForm(true);
      input('name').focus();
    });

    // Back from the campaign page, out of the back/forward cache: that form's campaign exists, open a new one.
    window.addEventListener('pageshow', (ev) => {
      if (!ev.persisted) return;
      const draft = storageJson(DRAFT_STORAGE);
      openForm(!draft || draft.key !== formKey);
      renderRecent();
    });

    submitOnce($('#open-form'), async (f) => {
      const id = (f.elements.namedItem('id').value || '').trim();
      if (!ID_SHAPE.test(id)) throw new ApiFailure(0, 'VALIDATION', 'A campaign id is 1-100 characters of A-Z, a-z, 0-9, _ or -.');
      location.assign(campaignPath(id));
    }, { keepDisabledOnSuccess: true });

    function renderRecent() {
      const list = (storageJson(RECENT_STORAGE) || []).filter((c) => c && typeof c.id === 'string');
      $('#recent').replaceChildren(
        ...list.map((c) => el('li', null,
          el('a', { href: campaignPath(c.id), text: c.name || c.id }),
          ' ', el('span', { class: 'muted small' }, c.at ? timeEl(c.at) : ''))),
      );
      show($('#recent-box'), list.length > 0);
    }

    openForm(false);
    K.initAuth(renderRecent);
  }

  // ---------------------------------------------------------------------------------------------
  // /console/campaigns/:id: live progress and controls

  function campaignPage() {
    const POLL_MS = 1000;
    const IDLE_POLL_MS = 5000; // finished campaigns change only by a retry-failed
    const FAILED_LIMIT = 100;
    const id = decodeURIComponent(location.pathname.replace(/\/+$/, '').split('/').pop() || '');
    const base = `/v1/campaigns/${encodeURIComponent(id)}`;

    let current = null;
    let requestSeq = 0; // every GET or action answer carries the number its request started with
    let renderedSeq = 0; // an answer older than the one shown is ignored
    let pollTimer = null;
    let polling = false;
    let gone = false;
    let actionBusy = false;
    let pendingNote = '';
    let rateTouched = false;
    let failedKey = null; // "status/failed" of the failed list shown; fetched again when it changes
    let samples = []; // [ms, sent + failed] while RUNNING, for the rate actually achieved

    const ALLOWED = {
      pause: (c) => c.status === 'RUNNING' && c.total > 0, // the audience must be frozen first
      resume: (c) => c.status === 'PAUSED',
      cancel: (c) => ACTIVE.includes(c.status),
      'retry-failed': (c) => c.status === 'COMPLETED' && c.failed > 0,
    };
    const rateAllowed = (c) => ACTIVE.includes(c.status);

    // -------------------------------------------------------------------------------------------
    // Live refresh

    function schedule(ms) {
      clearTimeout(pollTimer);
      if (gone) return;
      const every = current && TERMINAL.includes(current.status) ? IDLE_POLL_MS : POLL_MS;
      pollTimer = setTimeout(poll, ms === undefined ? every : ms);
    }

    async function poll() {
      if (polling || gone) return;
      if (isBusy() || actionBusy || document.hidden) return schedule();
      polling = true;
      const seq = ++requestSeq;
      try {
        render(await read(base), seq);
        clearError($('#page-error'));
      } catch (err) {
        if (err.promptShown) return; // the key prompt is up; signing in again restarts the refresh
        if (err.status === 404 || err.status === 400) {
          gone = true;
          show($('#campaign-head'), false);
          show($('#campaign-body'), false);
          showError($('#page-error'), err);
          $('#page-error').append(' ', el('a', { href: '/console/campaigns', text: 'Create a campaign' }));
          return;
        }
        showError($('#page-error'), new ApiFailure(0, err.code, `Live refresh failed, retrying: ${err.message}${err.status ? ` (${err.status} ${err.code})` : ''}`));
        $('#live').textContent = 'Live refresh failed; retrying every second.';
      } finally {
        polling = false;
      }
      schedule();
    }

    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) schedule(0);
    });

    // -------------------------------------------------------------------------------------------
    // Rendering

    function render(c, seq) {
      if (seq < renderedSeq) return;
      renderedSeq = seq;
      current = c;
      document.title = `${c.name} · Campaign · Keel console`;
      show($('#campaign-head'), true);
      show($('#campaign-body'), true);

      $('#campaign-name').textContent = c.name;
      const st = $('#campaign-status');
      st.textContent = c.status;
      st.className = `badge cstatus ${String(c.status).toLowerCase()}`;
      $('#campaign-channel').textContent = c.channel;
      $('#campaign-id').textContent = c.campaignId;
      $('#campaign-workflow').textContent = c.workflowId;

      renderProgress(c);
      renderFacts(c);
      applyEnablement();
      if (!rateTouched) $('#rate-input').value = c.ratePerSecond == null ? '' : String(c.ratePerSecond);

      const key = `${c.status}/${c.failed}`;
      if (key !== failedKey) loadFailed(key);
      $('#live').textContent = TERMINAL.includes(c.status)
        ? `Live: refreshed every ${IDLE_POLL_MS / 1000} s (finished) · last ${formatTime(new Date().toISOString())}`
        : `Live: refreshed every second · last ${formatTime(new Date().toISOString())}`;
    }

    function renderProgress(c) {
      const total = c.total || 0;
      const done = c.sent + c.failed + c.skipped;
      const share = (n) => (total ? (n * 100) / total : 0);
      $('#seg-sent').style.width = `${share(c.sent)}%`; // CSSOM, allowed by the page's CSP (no inline styles)
      $('#seg-failed').style.width = `${share(c.failed)}%`;
      $('#seg-skipped').style.width = `${share(c.skipped)}%`;
      const pct = total ? Math.floor((done * 100) / total) : c.status === 'COMPLETED' ? 100 : 0;
      const bar = $('#progress');
      bar.setAttribute('aria-valuenow', String(pct));
      bar.setAttribute('aria-valuetext', `${num(done)} of ${num(total)} recipients done`);
      bar.className = `progress ${String(c.status).toLowerCase()}`;
      $('#progress-pct').textContent = `${pct} %`;

      $('#count-sent').textContent = num(c.sent);
      $('#count-failed').textContent = num(c.failed);
      $('#count-skipped').textContent = num(c.skipped);
      $('#count-pending').textContent = num(c.pending);
      $('#count-total').textContent = num(c.total);

      let note = `${num(done)} of ${num(total)} recipients done`;
      if (c.status === 'SCHEDULED') note = c.sendAt ? `Scheduled: starts at ${formatTime(c.sendAt)} (${relative(c.sendAt)}).` : 'Scheduled: starting…';
      else if (c.status === 'RUNNING' && total === 0) note = 'Freezing the audience…';
      else if (c.status === 'PAUSED') note = `Paused after ${num(done)} of ${num(total)}: nothing is being sent.`;
      else if (c.status === 'CANCELLED') note = `Cancelled: ${num(done)} of ${num(total)} done; the ${num(c.pending)} pending will not be sent.`;
      else if (c.status === 'COMPLETED') note = `Completed: every recipient handled${c.failed ? `; ${num(c.failed)} failed` : ''}.`;
      else if (c.status === 'FAILED') note = `The campaign failed after ${num(done)} of ${num(total)}.`;
      $('#progress-note').textContent = note;
    }

    /** The rate actually achieved over the last few seconds of polls, while RUNNING. */
    function achievedRate(c) {
      const now = Date.now();
      if (c.status !== 'RUNNING') {
        samples = [];
        return undefined;
      }
      samples.push([now, c.sent + c.failed]);
      samples = samples.filter(([t]) => now - t <= 6000);
      const [t0, n0] = samples[0];
      return now - t0 >= 2000 ? ((c.sent + c.failed - n0) * 1000) / (now - t0) : undefined;
    }

    function renderFacts(c) {
      const achieved = achievedRate(c);
      const eta = c.status === 'COMPLETED' ? 'done'
        : c.status === 'PAUSED' ? 'paused'
        : c.status === 'SCHEDULED' ? (c.sendAt ? `starts ${relative(c.sendAt)}` : 'starting')
        : typeof c.etaSeconds === 'number' ? `about ${duration(c.etaSeconds)}`
        : c.status === 'RUNNING' ? 'estimating…' : '–';
      const facts = [
        ['Rate limit', c.ratePerSecond == null ? 'no limit' : `${num(c.ratePerSecond)} per second`, 'fact-rate'],
        ['Sending', achieved === undefined ? '–' : `${achieved.toFixed(achieved < 10 ? 1 : 0)} per second (last seconds)`, 'fact-achieved'],
        ['ETA', eta, 'fact-eta'],
      ];
      if (c.sendAt) facts.push(['Send at', timeEl(c.sendAt), 'fact-send-at']);
      facts.push(['Created', timeEl(c.createdAt), 'fact-created']);
      facts.push(['Started', c.startedAt ? timeEl(c.startedAt) : 'not yet', 'fact-started']);
      facts.push(['Finished', c.finishedAt ? timeEl(c.finishedAt) : 'not yet', 'fact-finished']);
      if (c.startedAt && c.finishedAt) {
        facts.push(['Took', duration((new Date(c.finishedAt).getTime() - new Date(c.startedAt).getTime()) / 1000), 'fact-took']);
      }
      $('#campaign-facts').replaceChildren(
        ...facts.map(([k, v, testid]) => el('div', { class: 'fact' }, el('dt', { text: k }), el('dd', { 'data-testid': testid }, v))),
      );
    }

    const HELP = {
      SCHEDULED: 'Waiting for its send time. You can change its rate or cancel it.',
      RUNNING: 'Sending. Pause stops new sends within seconds; cancel ends the campaign for good.',
      PAUSED: 'Paused: nothing is sent. Resume continues exactly where it stopped.',
      CANCELLED: 'Cancelled: the counts are final; pending recipients will not be sent.',
      FAILED: 'The campaign failed; it can no longer be steered.',
    };

    /** Buttons are enabled only in the states where the API accepts their action, and not while one runs. */
    function applyEnablement() {
      const c = current;
      for (const b of $$('#controls button')) {
        const allowed = ALLOWED[b.dataset.actionVerb];
        b.disabled = actionBusy || !c || !allowed(c);
      }
      const rateForm = $('#rate-form');
      const rateOk = Boolean(c) && rateAllowed(c);
      if (rateForm.dataset.busy !== '1') $('button', rateForm).disabled = actionBusy || !rateOk;
      $('#rate-input').disabled = !rateOk;
      let help = '';
      if (pendingNote) help = pendingNote;
      else if (c) {
        help = c.status === 'COMPLETED'
          ? c.failed ? `Completed. Retry failed sends the ${c.failed === 1 ? 'failed delivery' : `${num(c.failed)} failed deliveries`} again, and only ${c.failed === 1 ? 'it' : 'those'}.` : 'Completed: every recipient was handled. Nothing to steer.'
          : c.status === 'RUNNING' && c.total === 0 ? 'Freezing the audience; pause becomes available once it is frozen.'
          : HELP[c.status] || '';
      }
      $('#controls-help').textContent = help;
    }

    async function loadFailed(key) {
      failedKey = key;
      const box = $('#failed-error');
      try {
        const data = await read(`${base}/deliveries?status=failed&limit=${FAILED_LIMIT}`);
        if (failedKey !== key) return; // a newer fetch is on its way
        clearError(box);
        renderFailed(data.deliveries || []);
      } catch (err) {
        if (err.promptShown) return;
        failedKey = null; // try again on the next refresh
        showError(box, err);
      }
    }

    function renderFailed(rows) {
      $('#failed-rows').replaceChildren(
        ...rows.map((d) => el('tr', { 'data-testid': 'failed-row' },
          el('td', { class: 'num', text: d.seq }),
          el('td', { class: 'code', text: d.userId }),
          el('td', { class: 'num', text: d.attempts }),
          el('td', { class: 'error-text', 'data-testid': 'failed-error-text', text: d.lastError || '(no error recorded)' }),
        )),
      );
      show($('#failed-table'), rows.length > 0);
      show($('#failed-empty'), rows.length === 0);
      const total = current ? current.failed : rows.length;
      $('#failed-summary').textContent = rows.length === 0 ? ''
        : total > rows.length ? `showing the first ${num(rows.length)} of ${num(total)}` : `${num(rows.length)} failed`;
    }

    // -------------------------------------------------------------------------------------------
    // Controls

    const CONFIRM_CANCEL = 'Cancel this campaign?\n\nNothing more is sent; what was sent stays sent. A cancelled campaign cannot be resumed.';
    const PENDING = {
      pause: 'Pausing: waiting for the messages in flight to finish…',
      resume: 'Resuming…',
      cancel: 'Cancelling: waiting for the messages in flight to finish…',
      'retry-failed': 'Starting a retry of the failed deliveries…',
    };

    async function act(verb) {
      if (actionBusy || !current || !ALLOWED[verb](current)) return;
      if (verb === 'cancel' && !window.confirm(CONFIRM_CANCEL)) return;
      actionBusy = true;
      pendingNote = PENDING[verb];
      applyEnablement();
      const box = $('#controls-error');
      clearError(box);
      const seq = ++requestSeq;
      try {
        const state = await api(`${base}/${verb}`, { method: 'POST', body: {} });
        render(state, seq);
        if (verb === 'retry-failed') failedKey = null;
      } catch (err) {
        showError(box, err);
        schedule(0); // the state probably moved on: show it
      } finally {
        actionBusy = false;
        pendingNote = '';
        applyEnablement();
        schedule();
      }
    }

    for (const b of $$('#controls button')) b.addEventListener('click', () => act(b.dataset.actionVerb));

    $('#rate-input').addEventListener('input', () => (rateTouched = true));
    submitOnce(
      $('#rate-form'),
      async (f) => {
        const raw = f.elements.namedItem('ratePerSecond').value.trim();
        const rate = raw === '' ? null : Number(raw);
        if (rate !== null && (!Number.isInteger(rate) || rate < 1 || rate > 100000)) {
          throw new ApiFailure(0, 'VALIDATION', 'The rate is a whole number from 1 to 100000, or empty for no limit.');
        }
        const seq = ++requestSeq;
        const state = await api(base, { method: 'PATCH', body: { ratePerSecond: rate } });
        rateTouched = false;
        render(state, seq);
      },
      { afterEnable: applyEnablement },
    );

    K.initAuth(() => {
      gone = false;
      schedule(0);
    });
  }

  if (document.body.dataset.page === 'campaigns') campaignsPage();
  if (document.body.dataset.page === 'campaign') campaignPage();
})();
