import { call, pathID } from './api.js';
import { $, el, show, showError, pretty, compact, clear, objectText, rememberCollection } from './dom.js';

const MAX_COLUMNS = 10;

// The request that produced the current page: a cursor is bound to the
// collection, filter and sort, so "next page" resends exactly these.
let current = null;
let rows = [];
let opened = null; // {collection, id}

export function init() {
  $('docs-find').addEventListener('click', () => find(true).catch((e) => showError('docs-error', e)));
  $('docs-more').addEventListener('click', () => find(false).catch((e) => showError('docs-error', e)));
  $('doc-save').addEventListener('click', () => save().catch((e) => status(String(e), true)));
}

export function reset() {
  current = null;
  rows = [];
  opened = null;
  clear($('docs-table').tHead);
  clear($('docs-table').tBodies[0]);
  show('docs-more', false);
  show('doc-detail', false);
  showError('docs-error', null);
  $('docs-status').textContent = '';
}

function collPath(c) {
  return '/collections/' + encodeURIComponent(c);
}

async function find(first) {
  showError('docs-error', null);
  if (first) {
    const collection = $('docs-collection').value.trim();
    if (!collection) throw new Error('Choose a collection.');
    const parts = [];
    const ft = $('docs-filter').value.trim();
    if (ft) parts.push('"filter":' + objectText(ft, 'The filter'));
    const sort = $('docs-sort').value.split(',').map((s) => s.trim()).filter(Boolean);
    if (sort.length) parts.push('"sort":' + JSON.stringify(sort));
    current = { collection, parts };
    rows = [];
    show('doc-detail', false);
  }
  if (!current) return;
  const limit = parseInt($('docs-limit').value, 10) || 20;
  const parts = [...current.parts, '"limit":' + JSON.stringify(limit)];
  if (!first && current.cursor) parts.push('"cursor":' + JSON.stringify(current.cursor));
  const res = await call('POST', collPath(current.collection) + '/find', { body: '{' + parts.join(',') + '}' });
  rememberCollection(current.collection);
  rows = rows.concat(res.data);
  current.cursor = res.pagination?.cursor || null;
  render();
  show('docs-more', !!res.pagination?.has_more);
  $('docs-status').textContent = `${rows.length} document${rows.length === 1 ? '' : 's'}` + (res.pagination?.has_more ? ', more available' : '');
}

function render() {
  const table = $('docs-table');
  const cols = [];
  for (const r of rows) {
    for (const k of Object.keys(r)) {
      if (!cols.includes(k) && cols.length < MAX_COLUMNS) cols.push(k);
    }
  }
  clear(table.tHead);
  table.tHead.append(el('tr', {}, ...cols.map((c) => el('th', { text: c }))));
  const body = table.tBodies[0];
  clear(body);
  for (const r of rows) {
    const id = pathID(r._id);
    const tr = el('tr', { class: id ? 'clickable' : '' }, ...cols.map((c) => el('td', { text: compact(r[c]) })));
    if (id) tr.addEventListener('click', () => open(current.collection, id).catch((e) => showError('docs-error', e)));
    body.append(tr);
  }
  if (rows.length === 0) body.append(el('tr', {}, el('td', { text: 'No document matches.' })));
}

function status(text, isError) {
  const s = $('doc-save-status');
  s.textContent = text;
  s.className = isError ? 'error' : 'ok';
}

// openDocument shows one document on this page (the explain page links
// its matching documents here).
export async function openDocument(collection, id) {
  $('docs-collection').value = collection;
  await open(collection, id);
  location.hash = '#documents';
}

async function open(collection, id) {
  const { data } = await call('GET', `${collPath(collection)}/${id}`);
  opened = { collection, id };
  $('doc-id').textContent = decodeURIComponent(id);
  $('doc-json').textContent = pretty(data);
  $('doc-patch').value = '{}';
  status('', false);
  show('version-json', false);
  show('doc-detail', true);
  await versions();
}

async function save() {
  if (!opened) return;
  const body = objectText($('doc-patch').value, 'The update');
  const { data } = await call('PATCH', `${collPath(opened.collection)}/${opened.id}`, { body });
  $('doc-json').textContent = pretty(data);
  status('Saved.', false);
  await versions();
}

async function versions() {
  const tbody = $('versions-table').tBodies[0];
  clear(tbody);
  const st = $('versions-status');
  st.textContent = '';
  let list;
  try {
    list = (await call('GET', `${collPath(opened.collection)}/${opened.id}/versions`)).data;
  } catch (e) {
    st.textContent = e.status === 404 || e.status === 501 ? 'No versions are kept for this document.' : String(e);
    return;
  }
  if (list.length === 0) st.textContent = 'No earlier versions.';
  for (const v of list) {
    const view = el('button', { type: 'button', text: 'view', onclick: () => viewVersion(v.version).catch((e) => (st.textContent = String(e))) });
    const restore = el('button', { type: 'button', text: 'restore', onclick: () => restoreVersion(v.version).catch((e) => (st.textContent = String(e))) });
    tbody.append(el('tr', { data: { version: String(v.version) } },
      el('td', { text: String(v.version) }),
      el('td', { text: v.op }),
      el('td', { text: v.updated_by ?? '' }),
      el('td', { text: compact(v.updated_at) }),
      el('td', {}, view, restore)));
  }
}

async function viewVersion(v) {
  const { data } = await call('GET', `${collPath(opened.collection)}/${opened.id}/versions/${v}`);
  const pre = $('version-json');
  pre.textContent = `version ${v}:\n` + pretty(data);
  pre.hidden = false;
}

async function restoreVersion(v) {
  const { data } = await call('POST', `${collPath(opened.collection)}/${opened.id}/versions/${v}/restore`);
  $('doc-json').textContent = pretty(data);
  status(`Restored version ${v}.`, false);
  await versions();
}
