// Keel console. The first half of this file is shared by both console pages (window.Keel: the key
// prompt, API calls with the bearer key, safe DOM building, form handling); the second half drives
// /console/incidents (list and declare). Text from the API only ever reaches the page through
// textContent / text nodes, never innerHTML.
'use strict';

(function () {
  const KEY_STORAGE = 'keel.console.apiKey';
  const KEY_SHAPE = /^[\x21-\x7e]{1,512}$/;

  // ---------------------------------------------------------------------------------------------
  // DOM helpers

  const $ = (selector, root) => (root || document).querySelector(selector);
  const $$ = (selector, root) => Array.from((root || document).querySelectorAll(selector));

  /**
   * el('li', {class: 'x', text: 'hello', 'data-testid': 'y'}, child, 'text'): strings become text
   * nodes, so nothing from the API is ever parsed as HTML.
   */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = String(v);
      else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
      else if (k in node && typeof v !== 'string') node[k] = v;
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : String(c));
    }
    return node;
  }

  function show(node, visible) {
    if (node) node.hidden = !visible;
  }

  const pad = (n) => String(n).padStart(2, '0');

  /** Local wall-clock time: "14:03:07", or "2026-11-26 14:03" when not today. */
  function formatTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    const now = new Date();
    const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    if (d.toDateString() === now.toDateString()) return hms;
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  /** "in 4 min", "12 s ago". */
  function relative(iso, nowMs) {
    const ms = new Date(iso).getTime() - (nowMs || Date.now());
    if (Number.isNaN(ms)) return '';
    const abs = Math.abs(ms);
    const span = abs < 60_000 ? `${Math.round(abs / 1000)} s`
      : abs < 3_600_000 ? `${Math.round(abs / 60_000)} min`
      : abs < 172_800_000 ? `${Math.round(abs / 3_600_000)} h`
      : `${Math.round(abs / 86_400_000)} d`;
    return ms >= 0 ? `in ${span}` : `${span} ago`;
  }

  /** <time> with the local time as text and the exact ISO instant as its tooltip. */
  function timeEl(iso, extraText) {
    return el('time', { datetime: iso, title: iso, text: formatTime(iso) + (extraText || '') });
  }

  // ---------------------------------------------------------------------------------------------
  // The API key: asked once per tab, kept in sessionStorage, sent as a bearer token.

  function getKey() {
    try {
      return sessionStorage.getItem(KEY_STORAGE);
    } catch {
      return null;
    }
  }
  function setKey(key) {
    try {
      sessionStorage.setItem(KEY_STORAGE, key);
    } catch {
      // storage disabled: the key lives in memory for this page only
    }
    memoryKey = key;
  }
  function clearKey() {
    try {
      sessionStorage.removeItem(KEY_STORAGE);
    } catch {
      // nothing stored
    }
    memoryKey = null;
  }
  let memoryKey = null;
  const currentKey = () => getKey() || memoryKey;

  let onSignedIn = () => {};

  /** Show the key prompt (with why), hide the page. */
  function requireKey(message) {
    clearKey();
    show($('#main'), false);
    $$('[data-action="sign-out"]').forEach((a) => show(a, false));
    show($('#signin'), true);
    const box = $('#signin-message');
    box.textContent = message || '';
    show(box, Boolean(message));
    const input = $('#key-input');
    input.value = '';
    input.focus();
  }

  function signedIn() {
    show($('#signin'), false);
    show($('#signin-message'), false);
    show($('#main'), true);
    $$('[data-action="sign-out"]').forEach((a) => show(a, true));
    onSignedIn();
  }

  /** Wire the key prompt and the sign-out links; `start` runs whenever a key is (again) available. */
  function initAuth(start) {
    onSignedIn = start;
    $('#signin-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const key = $('#key-input').value.trim();
      if (!KEY_SHAPE.test(key)) {
        const box = $('#signin-message');
        box.textContent = key ? 'An API key is printable characters without spaces.' : 'Enter an API key.';
        show(box, true);
        return;
      }
      setKey(key);
      $('#key-input').value = '';
      signedIn();
    });
    $$('[data-action="sign-out"]').forEach((a) =>
      a.addEventListener('click', (ev) => {
        ev.preventDefault();
        requireKey('Signed out. The key was removed from this tab.');
      }),
    );
    if (currentKey()) signedIn();
    else requireKey('');
  }

  // ---------------------------------------------------------------------------------------------
  // API calls

  class ApiFailure extends Error {
    constructor(status, code, message, details) {
      super(message);
      this.status = status;
      this.code = code;
      this.details = details;
    }
  }

  /**
   * Call the API with the key. Resolves with the parsed JSON (or text); rejects with ApiFailure
   * carrying the API's {error: {code, message, details}}. A 401 also brings back the key prompt.
   */
  async function api(path, options) {
    const { method = 'GET', body, accept = 'application/json' } = options || {};
    const key = currentKey();
    if (!key) {
      requireKey('Enter an API key to continue.');
      const failure = new ApiFailure(401, 'UNAUTHORIZED', 'no API key');
      failure.promptShown = true;
      throw failure;
    }
    const headers = { Authorization: `Bearer ${key}`, Accept: accept };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store', credentials: 'omit',
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
      requireKey(`The API refused this key (${failure.message}). Enter a valid key.`);
    } else if (res.status === 403 && method === 'GET') {
      // A key that may not even read is no use here; a refused action is shown by its form instead.
      failure.promptShown = true;
      requireKey(`This key may not read incidents (${failure.message}). Sign in with a commander, operator or viewer key.`);
    }
    throw failure;
  }

  /** A public, unauthenticated GET (the status document). */
  async function publicGet(path) {
    const res = await fetch(path, { headers: { Accept: 'application/json' }, credentials: 'omit' });
    if (!res.ok) throw new ApiFailure(res.status, `HTTP_${res.status}`, `${path} answered ${res.status}`);
    return res.json();
  }

  /** Render an ApiFailure (or any error) into an error box: message, then one line per bad field. */
  function showError(box, err) {
    if (!box) return;
    const status = err && err.status;
    const prefix = status === 403 ? 'Not allowed with this key: '
      : status === 401 ? 'Not signed in: '
      : status === 0 ? ''
      : status === 409 ? 'Refused: '
      : '';
    box.replaceChildren();
    box.append(el('span', { text: `${prefix}${(err && err.message) || String(err)}` }));
    if (err && err.code && status) box.append(' ', el('span', { class: 'code', text: `${status} ${err.code}` }));
    const fields = err && err.details && Array.isArray(err.details.fields) ? err.details.fields : [];
    if (fields.length) {
      box.append(el('ul', null, fields.map((f) => el('li', { text: `${f.field}: ${f.message}` }))));
    }
    show(box, true);
  }

  function clearError(box) {
    if (!box) return;
    box.replaceChildren();
    show(box, false);
  }

  // ---------------------------------------------------------------------------------------------
  // Forms: one submission at a time, buttons disabled at once, live refresh paused meanwhile.

  let busyCount = 0;
  const isBusy = () => busyCount > 0;

  /**
   * handleForm(form, async (form) => {...}, {errorBox, keepDisabledOnSuccess}): the submit button
   * disables itself synchronously in the submit event, so a double click sends one request.
   */
  function handleForm(form, run, opts) {
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
      } finally {
        busyCount -= 1;
        form.removeAttribute('aria-busy');
        if (!(ok && options.keepDisabledOnSuccess)) {
          form.dataset.busy = '';
          buttons.forEach((b) => (b.disabled = false));
        }
      }
    });
  }

  /** A form's trimmed text field, or undefined when empty (the API rejects blank strings). */
  function field(form, name) {
    const input = form.elements.namedItem(name);
    const v = input && typeof input.value === 'string' ? input.value.trim() : '';
    return v === '' ? undefined : v;
  }

  function randomToken(bytes) {
    const a = new Uint8Array(bytes);
    crypto.getRandomValues(a);
    return Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  window.Keel = {
    $, $$, el, show, formatTime, relative, timeEl, api, publicGet, ApiFailure, showError, clearError,
    handleForm, field, isBusy, initAuth, requireKey, randomToken,
  };

  // ---------------------------------------------------------------------------------------------
  // /console/incidents: the list and the declare form.

  function incidentsPage() {
    const rows = $('#incident-rows');
    const showAll = $('#show-all');
    const listError = $('#list-error');
    const form = $('#declare-form');
    // Made when the form opens: a repeated submit of this form finds the incident the first made.
    const formDedupeKey = `console-${Date.now().toString(36)}-${randomToken(8)}`;
    let listTimer = null;

    async function loadComponents() {
      const box = $('#d-components');
      try {
        const doc = await publicGet('/v1/status');
        const names = (doc.components || []).map((c) => c.name);
        box.replaceChildren(
          el('legend', { text: 'Affected components' }),
          ...names.map((name, i) =>
            el('label', { class: 'inline check' },
              el('input', { type: 'checkbox', name: 'components', value: name, id: `d-comp-${i}`, 'data-testid': `declare-component-${name}` }),
              ` ${name}`),
          ),
        );
      } catch (err) {
        box.replaceChildren(
          el('legend', { text: 'Affected components' }),
          el('p', { class: 'form-error', role: 'alert', text: `Could not load the components from /v1/status: ${err.message}` }),
          el('button', { type: 'button', text: 'Try again', onclick: loadComponents }),
        );
      }
    }

    function renderList(incidents) {
      rows.replaceChildren(
        ...incidents.map((i) =>
          el('tr', { 'data-testid': 'incident-row', 'data-incident-id': i.incidentId },
            el('td', null,
              el('a', { href: `/console/incidents/${encodeURIComponent(i.incidentId)}`, text: i.title }),
              i.drill ? el('span', { class: 'badge drill', text: 'DRILL' }) : null,
              el('div', { class: 'muted small', text: i.incidentId })),
            el('td', null, el('span', { class: `badge sev ${String(i.severity).toLowerCase()}`, text: i.severity })),
            el('td', null, el('span', { class: `badge status ${String(i.status).toLowerCase()}`, text: i.status })),
            el('td', { text: (i.components || []).join(', ') }),
            el('td', null, timeEl(i.declaredAt)),
          ),
        ),
      );
      show($('#list-empty'), incidents.length === 0);
      $('#list-empty').textContent = showAll.checked ? 'No incidents.' : 'No open incidents.';
    }

    async function refreshList() {
      clearTimeout(listTimer);
      try {
        const data = await api(`/v1/incidents?status=${showAll.checked ? 'all' : 'open'}`);
        clearError(listError);
        renderList(data.incidents || []);
      } catch (err) {
        if (err.promptShown) return; // the key prompt is up; signing in again restarts the list
        showError(listError, err);
      }
      listTimer = setTimeout(refreshList, 5000);
    }

    showAll.addEventListener('change', refreshList);

    handleForm(
      form,
      async () => {
        const components = $$('input[name="components"]:checked', form).map((c) => c.value);
        if (components.length === 0) throw new ApiFailure(0, 'VALIDATION', 'Choose at least one affected component.');
        const body = {
          title: field(form, 'title'),
          severity: form.elements.namedItem('severity').value,
          components,
          summary: field(form, 'summary'),
          dedupeKey: field(form, 'dedupeKey') || formDedupeKey,
          drill: form.elements.namedItem('drill').checked,
        };
        const res = await api('/v1/incidents', { method: 'POST', body });
        location.assign(`/console/incidents/${encodeURIComponent(res.incidentId)}`);
      },
      { keepDisabledOnSuccess: true },
    );

    loadComponents();
    initAuth(refreshList);
  }

  if (document.body.dataset.page === 'incidents') incidentsPage();
})();
