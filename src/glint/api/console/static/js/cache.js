// The image cache of this node (GET /v2/cache and friends, admins by default):
// what it holds and what is queued, and its actions. Offered only when the cache
// API answers: a server without `image_cache_dir` answers 404 and shows nothing.

import * as api from './api.js';
import { h, bytes, when, field, confirmDialog } from './dom.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// The cache API's times are seconds since the epoch.
const epoch = (seconds) => (seconds ? when(new Date(seconds * 1000).toISOString()) : '—');
const imageLink = (id) => h('a', { href: `#/images/${id}`, class: 'mono' }, id);
const files = (count, size) => `${count} file${count === 1 ? '' : 's'} (${bytes(size)})`;

// The cache's listing, or null when this caller has no cache to manage here.
async function listing() {
  try {
    return await api.get('/v2/cache');
  } catch (failure) {
    if (failure.status === 404 || failure.status === 403) return null;
    throw failure;
  }
}

function cachedTable(entries, remove) {
  if (!entries.length) return h('p', { class: 'muted' }, 'Nothing cached.');
  return h('div', { class: 'scroll' }, h('table', { class: 'stacked', 'aria-label': 'Cached images' },
    h('thead', {}, h('tr', {}, ['Image', 'Size', 'Hits', 'Last accessed', ''].map((title) =>
      h('th', { scope: 'col' }, title)))),
    h('tbody', {}, entries.map((entry) => h('tr', {},
      h('td', { 'data-label': 'Image' }, imageLink(entry.image_id)),
      h('td', { 'data-label': 'Size', class: 'number' }, bytes(entry.size)),
      h('td', { 'data-label': 'Hits', class: 'number' }, String(entry.hits)),
      h('td', { 'data-label': 'Last accessed' }, epoch(entry.last_accessed)),
      h('td', {}, h('button', { type: 'button', 'aria-label': `Delete ${entry.image_id} from the cache`,
        onclick: () => remove(entry.image_id) }, 'Delete')))))));
}

function queuedList(ids, remove) {
  if (!ids.length) return h('p', { class: 'muted' }, 'Nothing queued.');
  return h('ul', { 'aria-label': 'Queued images' }, ids.map((id) => h('li', {}, imageLink(id), ' ',
    h('button', { type: 'button', class: 'link', 'aria-label': `Remove ${id} from the queue`,
      onclick: () => remove(id) }, 'Remove'))));
}

// The cache card for the service page, or null when the cache is not offered.
export async function cacheCard() {
  let first;
  try {
    first = await listing();
  } catch (failure) {
    return h('section', { class: 'card' }, h('h2', {}, 'Image cache'), h('p', { class: 'muted' }, failure.message));
  }
  if (first === null) return null;
  const result = h('p', { class: 'result', role: 'status', 'aria-live': 'polite' });
  const contents = h('div', {});
  const refresh = async (body) => {
    let current = body;
    try {
      current = current || await listing();
    } catch (failure) {
      contents.replaceChildren(h('p', { class: 'error' }, failure.message));
      return;
    }
    if (current === null) return;
    contents.replaceChildren(
      h('h3', {}, 'Cached'), cachedTable(current.cached_images || [], remove),
      h('h3', {}, 'Queued'), queuedList(current.queued_images || [], remove));
  };
  // Each action says what it did (or why not) and shows the cache as it is now.
  const run = async (work, say) => {
    result.className = 'result';
    try {
      result.textContent = say(await work());
    } catch (failure) {
      result.className = 'result error';
      result.textContent = failure.message;
    }
    await refresh();
  };
  const remove = (id) => run(() => api.del(`/v2/cache/${id}`), () => `Removed ${id} from this node's cache.`);
  const clear = async (target, label) => {
    if (!await confirmDialog(`Clear ${label} of this node?`, 'Clear')) return;
    await run(() => api.call('DELETE', '/v2/cache', { headers: { 'x-image-cache-clear-target': target } }),
      () => `Cleared ${label}.`);
  };
  const input = h('input', { name: 'cache-image', class: 'mono', size: 38, required: true,
    pattern: UUID.source, autocomplete: 'off' });
  const queueForm = h('form', { class: 'row', 'aria-label': 'Queue an image' },
    field('Image id to cache', input),
    h('button', { type: 'submit' }, 'Queue'));
  queueForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const id = input.value.trim();
    run(() => api.put(`/v2/cache/${id}`), () => { input.value = ''; return `Queued ${id}.`; });
  });
  await refresh(first);
  return h('section', { class: 'card', 'aria-labelledby': 'cache-title' },
    h('h2', { id: 'cache-title' }, 'Image cache'), contents, queueForm,
    h('div', { class: 'row' },
      h('button', { type: 'button', onclick: () => run(() => api.post('/v2/cache/clean'),
        () => 'Cache cleaned.') }, 'Clean'),
      h('button', { type: 'button', onclick: () => run(() => api.post('/v2/cache/prune'),
        (done) => `Pruned ${files(done.total_files_pruned, done.total_bytes_pruned)}.`) }, 'Prune'),
      h('button', { type: 'button', class: 'danger', onclick: () => clear('cache', 'the cache') }, 'Clear cache'),
      h('button', { type: 'button', class: 'danger', onclick: () => clear('queue', 'the queue') }, 'Clear queue')),
    result);
}

const nodesLine = (nodes) => (nodes.length
  ? h('p', {}, 'Cached on: ', h('span', { class: 'mono cached-nodes' }, nodes.join(', ')))
  : h('p', { class: 'muted cached-nodes' }, 'Not cached on any node.'));

// For an image's page: the nodes whose cache holds it, and "Cache on this
// node" (active images). Null where the cache is not offered to this caller.
export async function imageCacheSection(image) {
  let nodes;
  try {
    nodes = await api.get(`/v2/cache/nodes/${image.id}`);
  } catch {
    return null;
  }
  let line = nodesLine(nodes);
  const result = h('p', { class: 'result', role: 'status', 'aria-live': 'polite' });
  // After queueing, follow the nodes until this one has cached it (its next pass).
  const follow = async (tries) => {
    if (!line.isConnected || tries === 0) return;
    try {
      const now = await api.get(`/v2/cache/nodes/${image.id}`);
      const fresh = nodesLine(now);
      line.replaceWith(fresh);
      line = fresh;
      if (now.length > nodes.length) return;
    } catch { /* the next try may answer */ }
    setTimeout(() => follow(tries - 1), 1000);
  };
  const queue = async () => {
    try {
      await api.put(`/v2/cache/${image.id}`);
      result.className = 'result';
      result.textContent = 'Queued: this node caches it on its next pass.';
      follow(120);
    } catch (failure) {
      result.className = 'result error';
      result.textContent = failure.message;
    }
  };
  return h('section', { class: 'card', 'aria-labelledby': 'image-cache-title' },
    h('h2', { id: 'image-cache-title' }, 'Image cache'), line,
    image.status === 'active' ? h('button', { type: 'button', onclick: queue }, 'Cache on this node') : null,
    result);
}
