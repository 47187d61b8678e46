// One image: every field and property, tags, members, locations, import
// progress, and (for those allowed) editing and the image's actions.

import * as api from './api.js';
import { h, show, redraw, bytes, when, field, select, toast, confirmDialog } from './dom.js';
import { propertyEditor } from './properties.js';
import { membersSection } from './members.js';
import { imageCacheSection } from './cache.js';
import { badCopiesOf } from './audit.js';

const BASE_FIELDS = new Set(['id', 'name', 'status', 'visibility', 'size', 'virtual_size', 'disk_format',
  'container_format', 'checksum', 'os_hash_algo', 'os_hash_value', 'min_disk', 'min_ram', 'owner',
  'protected', 'os_hidden', 'created_at', 'updated_at', 'tags', 'locations', 'direct_url', 'stores',
  'self', 'file', 'schema']);
const LINKS = new Set(['self', 'file', 'schema']);
const WORKING = new Set(['queued', 'saving', 'uploading', 'importing']);

function fieldValue(name, value) {
  if (name === 'size' || name === 'virtual_size') return value === null ? '—' : `${bytes(value)} (${value} B)`;
  if (name.endsWith('_at')) return when(value);
  if (value === null || value === undefined || value === '') return '—';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

function fieldsTable(image) {
  const names = Object.keys(image).filter((name) => !LINKS.has(name) && name !== 'tags' && name !== 'locations');
  names.sort((a, b) => (BASE_FIELDS.has(b) - BASE_FIELDS.has(a)) || a.localeCompare(b));
  return h('dl', { class: 'fields', 'aria-label': 'Fields and properties' },
    names.map((name) => [h('dt', {}, name), h('dd', { class: name.includes('hash') || name === 'id' ? 'mono' : '' },
      fieldValue(name, image[name]))]));
}

function mayChange(image, me) {
  if (!me.canWrite) return false;
  return me.isAdmin || me.session.auth !== 'keystone' || image.owner === me.session.project_id;
}

async function act(work, done, success) {
  try {
    await work();
    if (success) toast(success);
  } catch (failure) {
    toast(failure.message, 'error');
  }
  done();
}

function actions(image, me, reload) {
  const change = (ops, message) => act(() => api.patchImage(image.id, ops), reload, message);
  const visibility = select('visibility', ['private', 'shared', 'community', 'public'].map((v) => [v, v]),
    image.visibility);
  visibility.addEventListener('change', () =>
    change([{ op: 'replace', path: '/visibility', value: visibility.value }], `Visibility: ${visibility.value}`));
  const toggles = [['protected', 'Protected'], ['os_hidden', 'Hidden']].map(([name, label]) => {
    const box = h('input', { type: 'checkbox', checked: Boolean(image[name]) });
    box.addEventListener('change', () => change([{ op: 'replace', path: `/${name}`, value: box.checked }],
      `${label}: ${box.checked ? 'yes' : 'no'}`));
    return h('label', { class: 'check' }, box, label);
  });
  const buttons = [];
  if (image.status === 'active') {
    buttons.push(h('button', { type: 'button', onclick: () => act(() =>
      api.post(`/v2/images/${image.id}/actions/deactivate`), reload, 'Deactivated') }, 'Deactivate'));
  }
  if (image.status === 'deactivated') {
    buttons.push(h('button', { type: 'button', onclick: () => act(() =>
      api.post(`/v2/images/${image.id}/actions/reactivate`), reload, 'Reactivated') }, 'Reactivate'));
  }
  buttons.push(h('button', { type: 'button', class: 'danger', onclick: async () => {
    if (!await confirmDialog(`Delete image “${image.name || image.id}”? This cannot be undone.`, 'Delete')) return;
    try {
      await api.del(`/v2/images/${image.id}`);
      toast('Image deleted');
      window.location.hash = '#/images';
    } catch (failure) {
      toast(failure.message, 'error');
    }
  } }, 'Delete'));
  return h('section', { class: 'card actions-card', 'aria-label': 'Actions' },
    h('div', { class: 'row' }, field('Visibility', visibility), ...toggles),
    h('div', { class: 'row' }, ...buttons));
}

function tagsSection(image, writable, reload) {
  const tags = h('ul', { class: 'tags', 'aria-label': 'Tags' }, image.tags.map((tag) => h('li', {}, tag,
    writable ? h('button', { type: 'button', class: 'link', 'aria-label': `Remove tag ${tag}`, onclick: () =>
      act(() => api.del(`/v2/images/${image.id}/tags/${encodeURIComponent(tag)}`), reload) }, '×') : null)));
  if (!image.tags.length) tags.append(h('li', { class: 'muted plain' }, 'No tags'));
  const section = h('section', { class: 'card' }, h('h2', {}, 'Tags'), tags);
  if (writable) {
    const input = h('input', { name: 'tag', maxlength: '255' });
    const form = h('form', { class: 'row' }, field('New tag', input), h('button', { type: 'submit' }, 'Add tag'));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const tag = input.value.trim();
      if (tag) {
        act(async () => { await api.call('PUT', `/v2/images/${image.id}/tags/${encodeURIComponent(tag)}`); input.value = ''; }, reload);
      }
    });
    section.append(form);
  }
  return section;
}

// Copies the auditor recorded bad are marked (admins: `bad` maps a copy's URL to its verdict).
function locationsSection(image, bad) {
  const stores = image.stores ? image.stores.split(',') : [];
  const locations = image.locations || [];
  if (!stores.length && !locations.length && !bad.size) return null;
  const mark = (copy) => h('span', { class: `badge ${copy.verdict}`, title: copy.differences.join('; ') },
    `recorded ${copy.verdict}`);
  return h('section', { class: 'card', 'aria-labelledby': 'locations-title' },
    h('h2', { id: 'locations-title' }, 'Locations and stores'),
    stores.length ? h('p', {}, 'Stores: ', stores.join(', ')) : null,
    locations.length ? h('ul', { class: 'mono' }, locations.map((l) => h('li', {}, l.url,
      bad.has(l.url) ? [' ', mark(bad.get(l.url))] : null))) : null,
    bad.size ? h('ul', { class: 'bad-copies', 'aria-label': 'Copies recorded bad' }, [...bad.values()].map((copy) =>
      h('li', {}, mark(copy), ` copy in store ${copy.store}`, copy.url ? [' at ', h('span', { class: 'mono' }, copy.url)] : null,
        ': ', h('span', { class: 'mono' }, copy.differences.join('; ') || 'no detail'),
        ` (checked ${when(copy.checked_at)})`))) : null);
}

async function importSection(image) {
  let tasks = [];
  try {
    tasks = (await api.get(`/v2/images/${image.id}/tasks`)).tasks || [];
  } catch { return null; }
  if (!tasks.length) return null;
  const task = tasks[0];
  const result = task.result || {};
  const progress = h('progress', { max: result.bytes_total || 1, value: result.bytes_done || 0,
    'aria-label': 'Import progress' });
  return h('section', { class: 'card', 'aria-label': 'Import' }, h('h2', {}, 'Import'),
    h('p', {}, `Task ${task.id}: `, h('strong', { class: 'task-status' }, task.status),
      result.step ? ` — ${result.step}` : '', task.message ? ` — ${task.message}` : ''),
    result.bytes_done !== undefined ? [progress, h('span', { class: 'muted' },
      ` ${bytes(result.bytes_done)} of ${result.bytes_total ? bytes(result.bytes_total) : '?'}`)] : null,
    image.os_glance_import_progress ? h('p', { class: 'muted' }, image.os_glance_import_progress) : null);
}

// Renders started later win: a reload (after a change, or while the image is
// being written) may still be fetching when the next one starts.
let rendering = 0;

export async function imageDetails(id, me) {
  rendering += 1;
  const mine = rendering;
  let timer = null;
  const reload = () => { clearTimeout(timer); if (window.location.hash === `#/images/${id}`) imageDetails(id, me); };
  let image;
  try {
    image = await api.get(`/v2/images/${id}`);
  } catch (failure) {
    show(h('h1', {}, 'Image'), h('p', { class: 'error', role: 'alert' }, failure.message));
    return;
  }
  const writable = mayChange(image, me);
  const [members, imports, cache, bad] = await Promise.all([membersSection(image, me, writable, reload),
    importSection(image), me.isAdmin ? imageCacheSection(image) : null,
    me.isAdmin ? badCopiesOf(image.id) : new Map()]);
  if (mine !== rendering) return;
  redraw(
    h('p', {}, h('a', { href: '#/images' }, '← Images')),
    h('h1', {}, image.name || image.id, ' ', h('span', { class: `badge ${image.status}` }, image.status)),
    // Glance's default policy lets members download, not readers.
    image.status === 'active' && me.canWrite ? h('p', {}, h('a', { href: `/console/api/v2/images/${image.id}/file`,
      download: image.name || image.id }, `Download (${bytes(image.size)})`)) : null,
    writable ? actions(image, me, reload) : null,
    h('section', { class: 'card' }, h('h2', {}, 'Details'), fieldsTable(image)),
    writable ? propertyEditor(image, reload) : null,
    tagsSection(image, writable, reload),
    locationsSection(image, bad), cache, members || null, imports);
  if (WORKING.has(image.status)) timer = setTimeout(reload, 1000);
}
