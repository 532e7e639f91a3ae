import { call } from './api.js';
import { $, el, show, showError, compact, clear } from './dom.js';

export function init() {
  $('key-create').addEventListener('click', () => create().catch((e) => showError('keys-error', e)));
}

export function shown() {
  list().catch((e) => showError('keys-error', e));
}

export function reset() {
  clear($('keys-table').tBodies[0]);
  show('key-created', false);
  $('key-secret').textContent = '';
  showError('keys-error', null);
}

async function list() {
  showError('keys-error', null);
  const { data } = await call('GET', '/admin/api-keys');
  const tbody = $('keys-table').tBodies[0];
  clear(tbody);
  for (const k of data) {
    const p = k.principal || {};
    const actions = el('td');
    if (!k.revoked) {
      const b = el('button', { type: 'button', text: 'Revoke' });
      // Two clicks, so that a stray one does not cut off a service.
      b.addEventListener('click', () => {
        if (b.dataset.armed !== '1') {
          b.dataset.armed = '1';
          b.textContent = 'Confirm revoke';
          return;
        }
        revoke(k.id).catch((e) => showError('keys-error', e));
      });
      actions.append(b);
    }
    tbody.append(el('tr', { data: { id: k.id } },
      el('td', { class: 'code', text: k.id }),
      el('td', { text: k.name }),
      el('td', { text: `${p.id || ''} @ ${p.tenant_id || '-'}` }),
      el('td', { text: (p.roles || []).join(', ') }),
      el('td', { text: compact(k.created_at) }),
      el('td', { text: k.expires_at ? compact(k.expires_at) : 'never' }),
      el('td', { class: k.revoked ? 'outcome-denied' : 'outcome-allowed', text: k.revoked ? 'revoked' : 'active' }),
      actions));
  }
  if (data.length === 0) tbody.append(el('tr', {}, el('td', { text: 'No keys.' })));
}

async function create() {
  showError('keys-error', null);
  show('key-created', false);
  const v = (id) => $(id).value.trim();
  const principal = { id: v('key-principal'), roles: v('key-roles').split(',').map((s) => s.trim()).filter(Boolean) };
  if (v('key-tenant')) principal.tenant_id = v('key-tenant');
  const body = { name: v('key-name'), principal };
  if (v('key-expires')) body.expires_in = v('key-expires');
  const { data } = await call('POST', '/admin/api-keys', { body });
  $('key-secret').textContent = data.key;
  show('key-created', true);
  await list();
}

async function revoke(id) {
  await call('DELETE', '/admin/api-keys/' + encodeURIComponent(id));
  await list();
}
