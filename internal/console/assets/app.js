import { call, credential, setCredential, isAPIKey } from './api.js';
import { $, show, showError, renderCollections } from './dom.js';
import * as explain from './explain.js';
import * as documents from './documents.js';
import * as audit from './audit.js';
import * as keys from './keys.js';
import * as tests from './tests.js';

const pages = { explain, documents, tests, audit, keys };

// describe says who is signed in without showing the secret: the key id of
// an API key, or the subject, tenant and roles a JWT claims (read, not
// verified, here: the server verifies it on every call).
function describe(c) {
  if (isAPIKey(c)) return 'API key ' + (c.split('_')[1] || '?');
  try {
    const part = c.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(part + '='.repeat((4 - (part.length % 4)) % 4)));
    const roles = Array.isArray(claims.roles) ? claims.roles.join(',') : '';
    return `JWT ${claims.sub || '?'}` + (claims.tenant_id ? ` @ ${claims.tenant_id}` : '') + (roles ? ` [${roles}]` : '');
  } catch {
    return 'JWT';
  }
}

function route() {
  const signedIn = credential() !== '';
  show('nav', signedIn);
  show('whoami', signedIn);
  show('signin', !signedIn);
  let name = location.hash.replace(/^#/, '');
  if (!pages[name]) name = 'explain';
  for (const p of Object.keys(pages)) show('page-' + p, signedIn && p === name);
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('current', a.dataset.page === name);
  if (!signedIn) {
    $('credential').focus();
    return;
  }
  $('whoami-text').textContent = describe(credential());
  pages[name].shown?.();
}

async function signIn() {
  const c = $('credential').value.trim();
  showError('signin-error', null);
  if (!c) {
    showError('signin-error', 'Paste an API key or a JWT.');
    return;
  }
  setCredential(c);
  try {
    // Any authenticated caller may explain its own access; the collection
    // need not exist. A bad, revoked or expired credential is 401 here.
    await call('POST', '/explain', { body: { collection: 'console', action: 'read' } });
  } catch (e) {
    setCredential('');
    showError('signin-error', e.status === 401 ? 'This credential was refused: ' + e.message : String(e));
    return;
  }
  $('credential').value = '';
  route();
}

function signOut() {
  setCredential('');
  for (const p of Object.values(pages)) p.reset?.();
  route();
}

// Unauthorised answers (an expired JWT, a revoked key) send the user back to
// the sign-in form.
window.addEventListener('pm-unauthenticated', () => {
  setCredential('');
  route();
  showError('signin-error', 'The server no longer accepts this credential; sign in again.');
});

document.addEventListener('DOMContentLoaded', () => {
  $('signin-button').addEventListener('click', signIn);
  $('credential').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') signIn();
  });
  $('signout').addEventListener('click', signOut);
  for (const p of Object.values(pages)) p.init();
  renderCollections();
  window.addEventListener('hashchange', route);
  route();
});
