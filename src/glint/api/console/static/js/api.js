// The image API, reached through /console/api with the session's cookie. The
// CSRF token lives in this module's memory only, never in any browser storage.

const READS = new Set(['GET', 'HEAD']);
const PATCH_TYPE = 'application/openstack-images-v2.1-json-patch';
let csrf = null;
let expiredHandler = () => {};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function useSession(session, onExpired) {
  csrf = session.csrf || null;
  expiredHandler = onExpired;
}

async function messageOf(response) {
  try {
    const body = await response.json();
    return body.message || body.title || response.statusText;
  } catch {
    return response.statusText || `HTTP ${response.status}`;
  }
}

function headersFor(method, extra) {
  const headers = { Accept: 'application/json', ...extra };
  if (!READS.has(method) && csrf) headers['X-Console-CSRF'] = csrf;
  return headers;
}

export async function call(method, path, { json, headers = {} } = {}) {
  const extra = { ...headers };
  let body;
  if (json !== undefined) {
    body = JSON.stringify(json);
    extra['Content-Type'] = extra['Content-Type'] || 'application/json';
  }
  const response = await fetch(`/console/api${path}`, {
    method, body, headers: headersFor(method, extra), credentials: 'same-origin', cache: 'no-store',
  });
  if (response.status === 401) {
    expiredHandler();
    throw new ApiError(401, await messageOf(response));
  }
  if (!response.ok) throw new ApiError(response.status, await messageOf(response));
  if (response.status === 204 || method === 'HEAD') return null;
  const type = response.headers.get('content-type') || '';
  return type.includes('json') ? response.json() : response.text();
}

export const get = (path) => call('GET', path);
export const post = (path, json) => call('POST', path, { json });
export const put = (path, json) => call('PUT', path, { json });
export const del = (path) => call('DELETE', path);
export const patchImage = (id, ops) => call('PATCH', `/v2/images/${id}`,
  { json: ops, headers: { 'Content-Type': PATCH_TYPE } });

// PUT a file as the request body with XMLHttpRequest, whose upload events give
// progress (fetch gives none). The browser streams the File from disk: the page
// never holds its bytes.
export function uploadFile(imageId, file, onProgress, store) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open('PUT', `/console/api/v2/images/${imageId}/file`);
    request.setRequestHeader('Content-Type', 'application/octet-stream');
    request.setRequestHeader('X-Console-CSRF', csrf || '');
    if (store) request.setRequestHeader('X-Image-Meta-Store', store);
    request.upload.addEventListener('progress', (event) => onProgress(event.loaded, file.size));
    request.addEventListener('load', () => {
      if (request.status === 401) expiredHandler();
      if (request.status >= 200 && request.status < 300) {
        onProgress(file.size, file.size);
        resolve();
        return;
      }
      let message = request.statusText;
      try { message = JSON.parse(request.responseText).message || message; } catch { /* not JSON */ }
      reject(new ApiError(request.status, message));
    });
    request.addEventListener('error', () => reject(new ApiError(0, 'The upload was interrupted.')));
    request.send(file);
  });
}

export async function session() {
  // Fetched early by the page's <link rel="preload">, which this request matches.
  const response = await fetch('/console/session');
  return response.json();
}

export async function logIn(credentials) {
  const response = await fetch('/console/session', {
    method: 'POST', body: JSON.stringify(credentials), cache: 'no-store',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
  });
  if (!response.ok) throw new ApiError(response.status, await messageOf(response));
  return response.json();
}

export async function logOut() {
  await fetch('/console/session', { method: 'DELETE', headers: headersFor('DELETE', {}) });
  csrf = null;
}
