// The 402flow dashboard: reads the admin API's /v1/ endpoints with the operator's bearer token
// and draws them. No framework, no library: everything the page shows is built here with DOM
// calls (text only, never markup from the data) and inline SVG for the charts.
'use strict';

const REFRESH_MS = 3000;
const TOKEN_KEY = '402flow.admin.token';
const SVG_NS = 'http://www.w3.org/2000/svg';
const PALETTE = ['#2563eb', '#d97706', '#059669', '#dc2626', '#7c3aed', '#0891b2', '#db2777',
  '#65a30d'];

const state = { timer: null, busy: false, filters: { agent: '', merchant: '', state: '' } };

// ---- the API ---------------------------------------------------------------------------------

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const headers = { Accept: 'application/json' };
  if (token()) headers.Authorization = 'Bearer ' + token();
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method: options.method || 'GET',
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    cache: 'no-store',
  });
  let data = null;
  try {
    data = await response.json();
  } catch (e) {
    data = null;
  }
  if (!response.ok) {
    const message = data && data.error ? data.error : response.statusText;
    throw new ApiError(response.status, message);
  }
  return data;
}

// A list answer is {"items": [...], "next": ...}; a bare array is taken as it is.
function items(data) {
  if (Array.isArray(data)) return data;
  return data && Array.isArray(data.items) ? data.items : [];
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== '' && v != null) q.set(k, v);
  const s = q.toString();
  return s ? '?' + s : '';
}

// ---- small DOM helpers -----------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : String(c ?? ''));
  return node;
}

function fillTable(id, rows, emptyId) {
  const body = document.querySelector('#' + id + ' tbody');
  body.replaceChildren(...rows);
  document.getElementById(id).hidden = rows.length === 0;
  if (emptyId) document.getElementById(emptyId).hidden = rows.length !== 0;
}

function shortTime(iso) {
  if (!iso || iso === '-') return '—';
  const d = new Date(iso);
  return isNaN(d) ? String(iso) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function shortId(id) {
  const s = String(id ?? '');
  return s.length > 16 ? s.slice(0, 14) + '…' : s;
}

// An atomic amount ("10000", 6 decimals) as a number for the charts only; labels use "display".
function amountValue(atomic, decimals) {
  const n = Number(atomic || 0);
  return n / Math.pow(10, Number(decimals || 0));
}

function setStatus(text, kind) {
  const s = document.getElementById('status');
  s.textContent = text;
  s.className = kind || '';
}

// ---- approvals -------------------------------------------------------------------------------

function approvalRow(a) {
  const offer = a.offer || {};
  const reason = el('input', { class: 'reason', placeholder: 'reason', 'aria-label': 'reason' });
  const denyForm = el('form', { class: 'deny-form', hidden: '' }, reason,
    el('button', { type: 'submit', class: 'deny-confirm', text: 'Deny' }),
    el('button', { type: 'button', class: 'deny-cancel', text: 'Cancel',
      onclick: () => { denyForm.hidden = true; } }));
  denyForm.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!reason.value.trim()) {
      reason.focus();
      return;
    }
    // Closed first: an open deny form holds the approvals table still (see renderApprovals).
    denyForm.hidden = true;
    decide(a.id, 'deny', { reason: reason.value.trim() });
  });
  const actions = el('td', { class: 'actions' },
    el('button', { class: 'approve', text: 'Approve', onclick: () => decide(a.id, 'approve', {}) }),
    el('button', { class: 'deny', text: 'Deny…', onclick: () => {
      denyForm.hidden = false;
      reason.focus();
    } }),
    denyForm);
  return el('tr', { 'data-id': a.id },
    el('td', { class: 'mono', title: a.id, text: shortId(a.id) }),
    el('td', { text: a.agent }),
    el('td', { class: 'url', title: a.url, text: (a.method || '') + ' ' + (a.url || '') }),
    el('td', { class: 'num', text: offer.display || offer.amount || '' }),
    el('td', { text: a.rule || '' }),
    el('td', { text: shortTime(a.expires_at) }),
    el('td', { class: 'num', text: a.held ?? 0 }),
    actions);
}

async function decide(id, action, body) {
  try {
    await api('/v1/approvals/' + encodeURIComponent(id) + '/' + action, { method: 'POST', body });
    setStatus((action === 'approve' ? 'Approved ' : 'Denied ') + id, 'ok');
  } catch (e) {
    setStatus('Could not ' + action + ' ' + id + ': ' + e.message, 'error');
  }
  refresh();
}

function renderApprovals(list) {
  // A deny reason being typed is not wiped by the next refresh.
  if (document.querySelector('#approvals .deny-form:not([hidden])')) return;
  document.getElementById('approvals-count').textContent = list.length ? '(' + list.length + ')' : '';
  fillTable('approvals', list.map(approvalRow), 'approvals-empty');
}

// ---- caps ------------------------------------------------------------------------------------

function capNumbers(c) {
  if (c.kind === 'payments') {
    const used = Number(c.held_count || 0);
    const max = c.max_count == null ? null : Number(c.max_count);
    return { used, max, usedText: used + ' payments', maxText: max == null ? '—' : max + ' payments',
      remainingText: max == null ? '—' : Math.max(0, max - used) + ' payments' };
  }
  const used = amountValue(c.held_amount, c.decimals);
  const max = c.max_amount == null ? null : amountValue(c.max_amount, c.decimals);
  const unit = c.symbol ? ' ' + c.symbol : '';
  const usedText = c.held_display || used + unit;
  const maxText = c.max_display || (max == null ? '—' : max + unit);
  let remainingText = c.remaining_display || '—';
  if (!c.remaining_display && max != null) {
    remainingText = Number(Math.max(0, max - used).toFixed(Number(c.decimals || 0))) + unit;
  }
  return { used, max, usedText, maxText, remainingText };
}

function capRow(c) {
  const n = capNumbers(c);
  const share = n.max ? Math.min(1, n.used / n.max) : 0;
  const bar = el('div', { class: 'bar' + (share >= 1 ? ' full' : share >= 0.8 ? ' high' : '') });
  const fill = el('span');
  fill.style.width = (share * 100).toFixed(1) + '%';
  bar.append(fill);
  return el('tr', { 'data-cap': c.counter_key || c.rule || '' },
    el('td', { title: c.counter_key || '', text: c.rule || c.counter_key || '' }),
    el('td', { text: c.window || 'total' }),
    el('td', { class: 'num used', text: n.usedText }),
    el('td', { class: 'num limit', text: n.maxText }),
    el('td', { class: 'num remaining', text: n.remainingText }),
    el('td', { class: 'bar-col' }, bar),
    el('td', { text: c.resets_at ? shortTime(c.resets_at) : '—' }));
}

function renderSpend(spend) {
  const caps = spend && Array.isArray(spend.caps) ? spend.caps : items(spend);
  fillTable('caps', caps.map(capRow), 'caps-empty');
}

// ---- receipts --------------------------------------------------------------------------------

function receiptRow(r) {
  const merchant = r.merchant_origin || r.merchant || '';
  return el('tr', { 'data-receipt': r.receipt_id || '', 'data-state': r.state || '' },
    el('td', { text: shortTime(r.recorded_at) }),
    el('td', { class: 'agent', text: r.agent || '' }),
    el('td', { class: 'merchant', text: merchant }),
    el('td', { class: 'url', title: r.url || '', text: (r.method || '') + ' ' + (r.url || '') }),
    el('td', { class: 'num amount', text: r.display || r.amount || '' }),
    el('td', {}, el('span', { class: 'state state-' + (r.state || ''), text: r.state || '' }),
      r.failure_reason ? el('span', { class: 'reason-text', text: ' ' + r.failure_reason }) : ''),
    el('td', { class: 'num', text: r.attempt_id ?? '' }),
    el('td', { class: 'mono', title: r.receipt_id || '', text: shortId(r.receipt_id) }));
}

function renderReceipts(list) {
  fillTable('receipts', list.map(receiptRow), 'receipts-empty');
}

// ---- observed merchants: every scalar field the API gives, as columns ------------------------

function flat(obj, prefix = '', out = {}) {
  for (const [k, v] of Object.entries(obj || {})) {
    if (v && typeof v === 'object' && !Array.isArray(v)) flat(v, prefix + k + '.', out);
    else if (!Array.isArray(v)) out[prefix + k] = v;
  }
  return out;
}

function merchantColumns(rows) {
  const columns = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!columns.includes(k)) columns.push(k);
  // Machine twins (times in ms, raw atomic amounts) add nothing a person reads.
  return columns.filter((k) => !k.endsWith('_ms') && !(k.endsWith('amount') &&
    columns.includes(k.replace(/amount$/, 'display'))));
}

function renderMerchants(list) {
  const rows = list.map((m) => flat(m));
  const columns = merchantColumns(rows);
  const head = document.querySelector('#merchants thead tr');
  head.replaceChildren(...columns.map((c) => el('th', { text: c.replace(/[._]/g, ' ') })));
  fillTable('merchants', rows.map((r) => el('tr', {}, ...columns.map((c) => el('td', {
    text: /(_at|seen)$/.test(c) && typeof r[c] === 'string' ? shortTime(r[c]) : (r[c] ?? ''),
  })))), 'merchants-empty');
}

// ---- charts: cumulative settled spend over time, one line per agent or merchant --------------

function seriesOf(receipts, keyOf) {
  const settled = receipts.filter((r) => r.state === 'settled')
    .sort((a, b) => Number(a.recorded_at_ms) - Number(b.recorded_at_ms));
  const symbols = new Set(settled.map((r) => r.symbol || r.asset));
  const series = new Map();
  for (const r of settled) {
    let key = keyOf(r) || '?';
    if (symbols.size > 1) key += ' (' + (r.symbol || shortId(r.asset)) + ')';
    if (!series.has(key)) series.set(key, { key, unit: r.symbol || '', points: [], total: 0 });
    const s = series.get(key);
    s.total += amountValue(r.amount_atomic, r.decimals);
    s.points.push([Number(r.recorded_at_ms), s.total]);
  }
  return [...series.values()];
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function formatNumber(v) {
  return Number(v.toPrecision(6)).toString();
}

function drawChart(id, series) {
  const box = document.getElementById(id);
  const W = 520, H = 220, L = 56, R = 12, T = 12, B = 28;
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'chart-svg' });
  const points = series.flatMap((s) => s.points);
  if (points.length === 0) {
    root.append(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'muted' },
      'No settled payment yet'));
    box.replaceChildren(root);
    return;
  }
  let t0 = Math.min(...points.map((p) => p[0]));
  let t1 = Math.max(...points.map((p) => p[0]));
  if (t1 - t0 < 60000) {
    t0 -= 30000;
    t1 += 30000;
  }
  const yMax = niceMax(Math.max(...points.map((p) => p[1])));
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => H - B - (v / yMax) * (H - T - B);
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    root.append(svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }));
    root.append(svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' },
      formatNumber(v)));
  }
  for (const t of [t0, t1]) {
    root.append(svg('text', { x: x(t), y: H - 8, 'text-anchor': t === t0 ? 'start' : 'end',
      class: 'axis' }, new Date(t).toISOString().slice(11, 19)));
  }
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    // A step line: the total holds until the next payment, then jumps.
    let d = `M${x(s.points[0][0])},${y(0)}`;
    let last = 0;
    for (const [t, v] of s.points) {
      d += `L${x(t)},${y(last)}L${x(t)},${y(v)}`;
      last = v;
    }
    d += `L${x(t1)},${y(last)}`;
    root.append(svg('path', { d, stroke: color, fill: 'none', 'stroke-width': 2,
      class: 'series', 'data-series': s.key }));
  });
  const legend = el('ul', { class: 'legend' }, ...series.map((s, i) => {
    const swatch = el('span', { class: 'swatch' });
    swatch.style.background = PALETTE[i % PALETTE.length];
    return el('li', { 'data-series': s.key }, swatch,
      el('span', { text: s.key + ': ' + formatNumber(s.total) + (s.unit ? ' ' + s.unit : '') }));
  }));
  box.replaceChildren(root, legend);
}

function renderCharts(receipts) {
  drawChart('chart-agent', seriesOf(receipts, (r) => r.agent));
  drawChart('chart-merchant', seriesOf(receipts, (r) => r.merchant_origin || r.merchant));
}

// ---- refreshing ------------------------------------------------------------------------------

function explain(e) {
  if (e.status === 401) return 'The admin API wants a token: type it above.';
  if (e.status === 503) return 'No ledger is open (no wallet configured): nothing to show.';
  if (e.status === 404) return 'This proxy has no /v1/ API.';
  return 'Could not read the admin API: ' + e.message;
}

async function refresh() {
  if (state.busy) return;
  state.busy = true;
  const f = state.filters;
  const filtered = f.agent || f.merchant || f.state;
  const calls = [
    api('/v1/approvals?state=pending'),
    api('/v1/spend'),
    api('/v1/receipts?limit=1000'),
    api('/v1/merchants/observed'),
    filtered ? api('/v1/receipts' + query({ ...f, limit: 100 })) : null,
  ];
  const results = await Promise.allSettled(calls.map((c) => c || Promise.resolve(null)));
  state.busy = false;
  const [approvals, spend, receipts, merchants, filteredReceipts] = results;
  const failure = results.find((r) => r.status === 'rejected');
  if (approvals.status === 'fulfilled') renderApprovals(items(approvals.value));
  if (spend.status === 'fulfilled') renderSpend(spend.value);
  if (receipts.status === 'fulfilled') {
    const all = items(receipts.value);
    renderCharts(all);
    if (!filtered) renderReceipts(all.slice(0, 100));
  }
  if (filtered && filteredReceipts.status === 'fulfilled') {
    renderReceipts(items(filteredReceipts.value));
  }
  if (merchants.status === 'fulfilled') renderMerchants(items(merchants.value));
  if (failure) {
    setStatus(explain(failure.reason), 'error');
  } else {
    setStatus('Updated ' + new Date().toLocaleTimeString(), 'ok');
  }
}

function start() {
  const field = document.getElementById('token');
  field.value = token();
  document.getElementById('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, field.value.trim());
    refresh();
  });
  document.getElementById('token-clear').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    field.value = '';
    refresh();
  });
  document.getElementById('receipt-filters').addEventListener('submit', (e) => {
    e.preventDefault();
    state.filters = {
      agent: document.getElementById('filter-agent').value.trim(),
      merchant: document.getElementById('filter-merchant').value.trim(),
      state: document.getElementById('filter-state').value,
    };
    refresh();
  });
  refresh();
  state.timer = setInterval(refresh, REFRESH_MS);
}

document.addEventListener('DOMContentLoaded', start);
