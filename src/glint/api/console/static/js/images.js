// The image list: filters, sorting by any column and keyset paging, all done
// by the API (GET /v2/images with its own parameters; `next` gives the marker).

import * as api from './api.js';
import { h, show, bytes, when, field, select, toast } from './dom.js';

const PAGE_SIZE = 25;
const COLUMNS = [
  ['name', 'Name'], ['status', 'Status'], ['visibility', 'Visibility'], ['size', 'Size'],
  ['disk_format', 'Disk format'], ['owner', 'Owner'], ['created_at', 'Created'],
];
const STATUSES = ['', 'queued', 'saving', 'uploading', 'importing', 'active', 'deactivated', 'killed',
  'pending_delete', 'deleted'];
const VISIBILITIES = ['', 'public', 'private', 'shared', 'community', 'all'];
const DISK_FORMATS = ['', 'raw', 'qcow2', 'iso', 'vmdk', 'vhd', 'vhdx', 'vdi', 'ploop', 'ami', 'ari', 'aki'];
const FILTERS = ['name', 'status', 'visibility', 'tag', 'disk_format', 'member_status'];

function options(values, anyText) {
  return values.map((value) => [value, value || anyText]);
}

function listQuery(params, shared) {
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  for (const name of [...FILTERS, 'sort_key', 'sort_dir', 'marker', 'limit']) {
    if (params.get(name)) query.set(name, params.get(name));
  }
  if (shared) {
    query.set('visibility', 'shared');
    if (!query.has('member_status')) query.set('member_status', 'all');
  }
  if (!query.has('sort_key')) query.set('sort_key', 'created_at');
  if (!query.has('sort_dir')) query.set('sort_dir', 'desc');
  return query;
}

function go(base, params) {
  const text = params.toString();
  window.location.hash = `${base}${text ? `?${text}` : ''}`;
}

function filterForm(base, params, shared) {
  const inputs = {
    name: h('input', { name: 'name', type: 'search', value: params.get('name') || '', placeholder: 'Exact name' }),
    status: select('status', options(STATUSES, 'Any status'), params.get('status') || ''),
    tag: h('input', { name: 'tag', value: params.get('tag') || '' }),
    disk_format: select('disk_format', options(DISK_FORMATS, 'Any format'), params.get('disk_format') || ''),
  };
  if (shared) {
    inputs.member_status = select('member_status', options(['all', 'pending', 'accepted', 'rejected'], ''),
      params.get('member_status') || 'all');
  } else {
    inputs.visibility = select('visibility', options(VISIBILITIES, 'Any visibility'), params.get('visibility') || '');
  }
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter images' },
    field('Name', inputs.name), field('Status', inputs.status),
    inputs.visibility ? field('Visibility', inputs.visibility) : field('Member status', inputs.member_status),
    field('Tag', inputs.tag), field('Disk format', inputs.disk_format),
    h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Filter')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [name, input] of Object.entries(inputs)) if (input.value) next.set(name, input.value);
    for (const name of ['sort_key', 'sort_dir']) if (params.get(name)) next.set(name, params.get(name));
    go(base, next);
  });
  return form;
}

function header(base, params, query) {
  const key = query.get('sort_key');
  const dir = query.get('sort_dir');
  return h('tr', {}, COLUMNS.map(([column, label]) => {
    const sorted = key === column;
    const button = h('button', { type: 'button', class: 'sort', onclick: () => {
      const next = new URLSearchParams(params);
      next.delete('marker');
      next.set('sort_key', column);
      next.set('sort_dir', sorted && dir === 'asc' ? 'desc' : 'asc');
      go(base, next);
    } }, label, sorted ? (dir === 'asc' ? ' ▲' : ' ▼') : '');
    return h('th', { scope: 'col', 'aria-sort': sorted ? (dir === 'asc' ? 'ascending' : 'descending') : 'none' }, button);
  }));
}

function row(image) {
  return h('tr', {},
    h('td', { 'data-label': 'Name' }, h('a', { href: `#/images/${image.id}` }, image.name || image.id)),
    h('td', { 'data-label': 'Status' }, h('span', { class: `badge ${image.status}` }, image.status)),
    h('td', { 'data-label': 'Visibility' }, image.visibility),
    h('td', { 'data-label': 'Size', class: 'number' }, bytes(image.size)),
    h('td', { 'data-label': 'Disk format' }, image.disk_format || '—'),
    h('td', { 'data-label': 'Owner', class: 'mono' }, image.owner || '—'),
    h('td', { 'data-label': 'Created' }, when(image.created_at)));
}

function pager(base, params, next) {
  const previous = h('button', { type: 'button', disabled: !params.get('marker'),
    onclick: () => window.history.back() }, '← Previous');
  const following = h('button', { type: 'button', disabled: !next, onclick: () => {
    const marker = new URL(next, window.location.origin).searchParams.get('marker');
    const params2 = new URLSearchParams(params);
    params2.set('marker', marker);
    go(base, params2);
  } }, 'Next →');
  return h('nav', { class: 'pager', 'aria-label': 'Pages' }, previous, following);
}

export async function imageList(me, search, { shared }) {
  const base = shared ? '#/shared' : '#/images';
  const params = new URLSearchParams(search.replace(/^\?/, ''));
  const query = listQuery(params, shared);
  const title = shared ? 'Images shared with me' : 'Images';
  const body = h('tbody', {}, h('tr', {}, h('td', { colspan: COLUMNS.length, class: 'muted' }, 'Loading…')));
  const table = h('table', { class: 'images', 'aria-label': title }, h('thead', {}, header(base, params, query)), body);
  const footer = h('div');
  show(h('h1', {}, title), filterForm(base, params, shared), h('div', { class: 'scroll' }, table), footer);
  try {
    const page = await api.get(`/v2/images?${query}`);
    body.replaceChildren(...(page.images.length ? page.images.map(row)
      : [h('tr', {}, h('td', { colspan: COLUMNS.length, class: 'muted' }, 'No images.'))]));
    footer.replaceChildren(pager(base, params, page.next));
    performance.mark('glint-images-listed');
  } catch (failure) {
    toast(failure.message, 'error');
  }
}
