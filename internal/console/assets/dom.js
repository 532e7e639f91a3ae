// DOM helpers. Every value from the server is written with textContent,
// never as markup.
export const $ = (id) => document.getElementById(id);

export function el(tag, opts = {}, ...children) {
  const e = document.createElement(tag);
  if (opts.id) e.id = opts.id;
  if (opts.class) e.className = opts.class;
  if (opts.text !== undefined) e.textContent = opts.text;
  if (opts.title) e.title = opts.title;
  if (opts.data) for (const [k, v] of Object.entries(opts.data)) e.dataset[k] = v;
  if (opts.type) e.type = opts.type;
  if (opts.onclick) e.addEventListener('click', opts.onclick);
  for (const c of children) if (c) e.append(c);
  return e;
}

export function show(id, on) {
  $(id).hidden = !on;
}

export function showError(id, err) {
  const e = $(id);
  if (!err) {
    e.hidden = true;
    e.textContent = '';
    return;
  }
  e.textContent = String(err);
  e.hidden = false;
}

export const pretty = (v) => JSON.stringify(v, null, 2);

// compact shows a value in a table cell.
export function compact(v) {
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object') {
    if (typeof v.$oid === 'string') return v.$oid;
    if (v.$date !== undefined) return typeof v.$date === 'string' ? v.$date : JSON.stringify(v.$date);
  }
  return JSON.stringify(v);
}

export function clear(tbody) {
  while (tbody.firstChild) tbody.firstChild.remove();
}

// objectText checks that text is one JSON object and returns it trimmed
// (the raw text is what is sent; see call in api.js).
export function objectText(text, what) {
  const t = text.trim();
  let v;
  try {
    v = JSON.parse(t);
  } catch (e) {
    throw new Error(`${what} is not valid JSON: ${e.message}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${what} must be a JSON object`);
  return t;
}

const COLLS = 'pm.console.collections';

// Collections the user has typed, offered back in the inputs' datalist:
// the API has no endpoint that lists collections.
export function rememberCollection(name) {
  const list = knownCollections().filter((c) => c !== name);
  list.unshift(name);
  sessionStorage.setItem(COLLS, JSON.stringify(list.slice(0, 20)));
  renderCollections();
  for (const id of ['explain-collection', 'docs-collection', 'audit-collection']) {
    const i = $(id);
    if (i && !i.value && id !== 'audit-collection') i.value = name;
  }
}

export function knownCollections() {
  try {
    const v = JSON.parse(sessionStorage.getItem(COLLS) || '[]');
    return Array.isArray(v) ? v.filter((x) => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

export function renderCollections() {
  const dl = $('collections');
  clear(dl);
  for (const c of knownCollections()) {
    const o = document.createElement('option');
    o.value = c;
    dl.append(o);
  }
}
