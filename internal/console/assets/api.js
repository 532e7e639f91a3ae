// The one place the console talks to the server. The credential lives in
// sessionStorage (gone when the tab closes) and travels only in a header,
// never in a URL, so it does not end up in history, logs or Referer.
const KEY = 'pm.console.credential';

export function credential() {
  return sessionStorage.getItem(KEY) || '';
}

export function setCredential(c) {
  if (c) sessionStorage.setItem(KEY, c);
  else sessionStorage.removeItem(KEY);
}

// isAPIKey tells the two credential kinds apart the way the server does:
// API keys start with pm_, anything else is a JWT.
export function isAPIKey(c) {
  return c.startsWith('pm_');
}

export class APIError extends Error {
  constructor(status, code, message, details, requestID) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.requestID = requestID;
  }
  toString() {
    let s = `${this.status} ${this.code}: ${this.message}`;
    if (this.requestID) s += ` (request ${this.requestID})`;
    return s;
  }
}

// call sends one request. body is an object (sent as JSON) or, for bodies
// holding a user's Extended JSON, an already serialised string: parsing and
// re-serialising it in JavaScript would round integers beyond 2^53.
export async function call(method, path, { query, body } = {}) {
  const headers = { Accept: 'application/json' };
  const c = credential();
  if (isAPIKey(c)) headers['X-API-Key'] = c;
  else if (c) headers.Authorization = 'Bearer ' + c;
  let url = path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
    }
    const s = q.toString();
    if (s) url += '?' + s;
  }
  const init = { method, headers, credentials: 'omit', cache: 'no-store', redirect: 'error' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    throw new APIError(0, 'NETWORK', 'the server could not be reached: ' + e.message);
  }
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: reported below with the status
  }
  if (!res.ok) {
    if (res.status === 401) window.dispatchEvent(new Event('pm-unauthenticated'));
    const e = json && json.error;
    throw new APIError(res.status, e ? e.code : 'HTTP_' + res.status,
      e ? e.message : text.slice(0, 200), e ? e.details : undefined, json ? json.request_id : undefined);
  }
  return json;
}

// pathID turns a document _id as the API returns it into the {id} of a
// path: an ObjectId is its 24 hex digits, a string is itself.
export function pathID(id) {
  if (id && typeof id === 'object' && typeof id.$oid === 'string') return id.$oid;
  if (typeof id === 'string') return encodeURIComponent(id);
  return null; // numbers, dates, …: not addressable by the path routes
}
