import { call, APIError, pathID } from './api.js';
import { openDocument } from './documents.js';
import { $, el, show, showError, pretty, compact, clear, rememberCollection, objectText } from './dom.js';

const MAX_DOCS = 50;

export function init() {
  $('explain-as').addEventListener('change', chooser);
  $('explain-run').addEventListener('click', () => run().catch((e) => showError('explain-error', e)));
  $('explain-collection').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') run().catch((err) => showError('explain-error', err));
  });
}

// chooser shows the inputs of the principal chosen.
function chooser() {
  const as = $('explain-as').value;
  for (const id of ['explain-as-user-id', 'explain-as-user-roles', 'explain-as-user-claims']) show(id, as === 'user');
  show('explain-as-key', as === 'key');
  show('explain-as-hint', as !== 'self');
}

// subject returns the members of POST /explain that name another principal,
// or none for the caller itself.
function subject() {
  const v = (id) => $(id).value.trim();
  switch ($('explain-as').value) {
    case 'user': {
      if (!v('explain-user-id')) throw new Error('Give the user id to explain.');
      const principal = { id: v('explain-user-id'), roles: v('explain-user-roles').split(',').map((r) => r.trim()).filter(Boolean) };
      if (v('explain-user-claims')) principal.claims = JSON.parse(objectText(v('explain-user-claims'), 'Claims'));
      return { principal };
    }
    case 'key':
      if (!v('explain-key-id')) throw new Error('Give the API key id to explain.');
      return { api_key_id: v('explain-key-id') };
  }
  return {};
}

export function reset() {
  $('explain-as').value = 'self';
  chooser();
  for (const id of ['explain-user-id', 'explain-user-roles', 'explain-user-claims', 'explain-key-id']) $(id).value = '';
  show('explain-subject', false);
  show('explain-hierarchy', false);
  show('explain-result', false);
  showError('explain-error', null);
  showError('explain-docs-error', null);
  $('explain-filter').textContent = '';
  clear($('explain-rules').tBodies[0]);
  clear($('explain-docs').tBodies[0]);
}

function fieldRules(f) {
  if (!f) return 'all fields';
  const parts = [];
  if (f.allow?.length) parts.push('allow: ' + f.allow.join(', '));
  if (f.deny?.length) parts.push('hidden: ' + f.deny.join(', '));
  if (f.mask && Object.keys(f.mask).length) {
    parts.push('masked: ' + Object.entries(f.mask).map(([k, v]) => `${k} (${v})`).join(', '));
  }
  if (f.deny_write?.length) parts.push('read-only: ' + f.deny_write.join(', '));
  return parts.length ? parts.join('; ') : 'all fields';
}

// ruleFilters pairs each rule with the filter it contributes. The server
// builds the injected filter from the conditional rules in order: the one
// rule's filter alone, or {$or: [one branch per conditional rule]}.
function ruleFilters(data) {
  const cond = data.fields.map((r, i) => (r.state === 'conditional' ? i : -1)).filter((i) => i >= 0);
  const out = new Map();
  cond.forEach((i, k) => {
    out.set(i, cond.length === 1 ? data.filter : data.filter.$or?.[k]);
  });
  return out;
}

async function run() {
  showError('explain-error', null);
  show('explain-result', false);
  const collection = $('explain-collection').value.trim();
  const action = $('explain-action').value;
  if (!collection) throw new Error('Choose a collection.');
  const { data } = await call('POST', '/explain', { body: { collection, action, ...subject() } });
  rememberCollection(collection);
  const p = data.principal;
  show('explain-subject', !!p);
  if (p) {
    $('explain-subject-text').textContent = `${p.id} @ ${p.tenant_id} [${p.roles.join(', ')}]` + (p.api_key_id ? ` (API key ${p.api_key_id})` : '');
  }
  show('explain-hierarchy', data.hierarchy_resolved === false);
  data.fields = data.fields || [];
  $('explain-allowed').textContent = data.allowed ? 'yes' : 'no';
  const st = $('explain-state');
  st.textContent = data.state;
  st.className = 'badge ' + data.state;
  $('explain-filter').textContent = data.state === 'always' ? '{}  (nothing is injected: every document)' : pretty(data.filter);
  const rules = $('explain-rules').tBodies[0];
  clear(rules);
  data.fields.forEach((r, i) => {
    rules.append(el('tr', {},
      el('td', { text: String(i + 1) }),
      el('td', { text: r.role }),
      el('td', { class: 'code', text: r.when || '(always)' }),
      el('td', { text: r.state }),
      el('td', { text: fieldRules(r.fields) })));
  });
  if (data.fields.length === 0) rules.append(el('tr', {}, el('td', { text: p ? 'No rule of this principal grants this action.' : 'No rule of yours grants this action.' })));
  show('explain-result', true);
  await matches(collection, action, data);
}

// matches lists the documents the caller may read that the action's filter
// selects, and for each the rules that grant it: a rule whose state is
// "always" grants every one; a conditional rule's own filter is asked of the
// server for the listed ids.
async function matches(collection, action, data) {
  const tbody = $('explain-docs').tBodies[0];
  clear(tbody);
  showError('explain-docs-error', null);
  const note = $('explain-docs-note');
  if (!data.allowed || data.state === 'never') {
    note.textContent = '— none: the action is not granted for any document';
    return;
  }
  if (data.principal) {
    note.textContent = `(first ${MAX_DOCS} of those you may read that this principal's filter selects)`;
  } else {
    note.textContent = action === 'read'
      ? `(first ${MAX_DOCS})`
      : `(first ${MAX_DOCS} of those you may also read)`;
  }
  let docs;
  try {
    const filter = data.state === 'always' ? {} : data.filter;
    docs = (await call('POST', `/collections/${encodeURIComponent(collection)}/find`, { body: { filter, limit: MAX_DOCS } })).data;
  } catch (e) {
    showError('explain-docs-error', 'Cannot list the documents: ' + e);
    return;
  }
  if (docs.length === 0) {
    tbody.append(el('tr', {}, el('td', { text: 'No document matches.' })));
    return;
  }
  const ids = docs.map((d) => d._id);
  const grantedBy = docs.map(() => []);
  const filters = ruleFilters(data);
  for (const [i, r] of data.fields.entries()) {
    const label = `#${i + 1} ${r.role}`;
    if (r.state === 'always') {
      grantedBy.forEach((g) => g.push(label));
      continue;
    }
    if (r.state !== 'conditional' || !filters.get(i)) continue;
    try {
      const body = { filter: { $and: [filters.get(i), { _id: { $in: ids } }] }, limit: MAX_DOCS };
      const hit = (await call('POST', `/collections/${encodeURIComponent(collection)}/find`, { body })).data;
      const set = new Set(hit.map((d) => JSON.stringify(d._id)));
      ids.forEach((id, k) => {
        if (set.has(JSON.stringify(id))) grantedBy[k].push(label);
      });
    } catch (e) {
      // A rule on a field the caller cannot read cannot be asked about.
      const why = e instanceof APIError && e.status === 403 ? 'uses a field you cannot read' : String(e);
      grantedBy.forEach((g) => g.push(`${label}? (${why})`));
    }
  }
  docs.forEach((d, k) => {
    const id = pathID(d._id);
    const tr = el('tr', { class: id ? 'clickable' : '', title: id ? 'open in Documents' : '' },
      el('td', { class: 'code', text: compact(d._id) }),
      el('td', { class: 'code', text: JSON.stringify(d) }),
      el('td', { text: grantedBy[k].join(', ') || '—' }));
    if (id) tr.addEventListener('click', () => openDocument(collection, id).catch((e) => showError('explain-docs-error', e)));
    tbody.append(tr);
  });
}
