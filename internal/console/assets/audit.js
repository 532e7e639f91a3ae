import { call } from './api.js';
import { $, el, show, showError, pretty, clear } from './dom.js';

// The filters of the current query: the server binds its cursor to them.
let current = null;
let entries = [];

export function init() {
  $('audit-query').addEventListener('click', () => query(true).catch((e) => showError('audit-error', e)));
  $('audit-more').addEventListener('click', () => query(false).catch((e) => showError('audit-error', e)));
  $('audit-verify').addEventListener('click', () => verify().catch((e) => showError('audit-error', e)));
}

export function reset() {
  current = null;
  entries = [];
  clear($('audit-table').tBodies[0]);
  show('audit-more', false);
  show('audit-detail', false);
  show('audit-verify-result', false);
  showError('audit-error', null);
  $('audit-status').textContent = '';
}

function filters() {
  const v = (id) => $(id).value.trim();
  return {
    collection: v('audit-collection'), actor: v('audit-actor'), action: v('audit-action'),
    outcome: v('audit-outcome'), doc_id: v('audit-doc'), from: v('audit-from'), to: v('audit-to'),
  };
}

async function query(first) {
  showError('audit-error', null);
  if (first) {
    current = { filters: filters(), cursor: null };
    entries = [];
    show('audit-detail', false);
  }
  if (!current) return;
  const q = { ...current.filters, limit: 50 };
  if (!first) q.cursor = current.cursor;
  const res = await call('GET', '/audit', { query: q });
  entries = entries.concat(res.data);
  current.cursor = res.pagination?.cursor || null;
  render();
  show('audit-more', !!res.pagination?.has_more);
  $('audit-status').textContent = `${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}` + (res.pagination?.has_more ? ', older ones available' : '');
}

function render(badID) {
  const tbody = $('audit-table').tBodies[0];
  clear(tbody);
  for (const e of entries) {
    const tr = el('tr', { class: 'clickable' + (e.id === badID ? ' bad' : ''), data: { id: e.id } },
      el('td', { text: e.ts }),
      el('td', { text: e.actor ? e.actor.id : '' }),
      el('td', { text: e.action }),
      el('td', { text: e.collection || '' }),
      el('td', { class: 'code', text: (e.doc_ids || []).join(', ') }),
      el('td', { class: 'outcome-' + e.outcome, text: e.outcome }),
      el('td', { text: String(e.status ?? '') }));
    tr.addEventListener('click', () => openEntry(e));
    tbody.append(tr);
  }
  if (entries.length === 0) tbody.append(el('tr', {}, el('td', { text: 'No entry matches.' })));
}

const SHOWN = [
  ['time', (e) => e.ts], ['request id', (e) => e.request_id],
  ['actor', (e) => (e.actor ? `${e.actor.id} @ ${e.actor.tenant_id || '-'} [${(e.actor.roles || []).join(',')}] via ${e.actor.auth || '?'}` : '')],
  ['action', (e) => e.action], ['collection', (e) => e.collection], ['documents', (e) => (e.doc_ids || []).join(', ')],
  ['outcome', (e) => `${e.outcome} (${e.status}${e.error_code ? ' ' + e.error_code : ''})`],
  ['changed fields', (e) => (e.changed_fields || []).join(', ')],
  ['chain', (e) => `writer ${e.writer} · seq ${e.seq}`],
];

function openEntry(e) {
  $('audit-entry-id').textContent = e.id;
  const dl = $('audit-entry-fields');
  clear(dl);
  for (const [k, f] of SHOWN) {
    const v = f(e);
    if (v === undefined || v === '') continue;
    dl.append(el('dt', { text: k }), el('dd', { text: String(v) }));
  }
  $('audit-entry-json').textContent = pretty(e);
  show('audit-detail', true);
}

async function verify() {
  showError('audit-error', null);
  const f = filters();
  const { data } = await call('GET', '/audit/verify', { query: { from: f.from, to: f.to } });
  const box = $('audit-verify-result');
  clear(box);
  if (data.ok) {
    box.className = 'ok';
    box.append(el('p', { text: `Chain intact: ${data.checked} entries checked.` }));
  } else {
    box.className = 'error';
    box.append(el('p', { text: `Chain broken: ${data.reason || 'unknown reason'} (${data.checked} entries checked).` }));
    box.append(el('p', {}, document.createTextNode('First bad entry: '), el('code', { id: 'audit-first-bad', text: data.first_bad_id || '?' })));
    const bad = entries.find((e) => e.id === data.first_bad_id);
    if (bad) {
      render(bad.id);
      openEntry(bad);
    }
  }
  box.hidden = false;
}
