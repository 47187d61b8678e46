// The service: stores, tasks, usage, and the image cache and the auditor's
// findings where the server offers them (a card the server answers 404 for is not shown).

import * as api from './api.js';
import { h, show, when } from './dom.js';
import { cacheCard } from './cache.js';
import { auditCard } from './audit.js';

function table(label, columns, rows) {
  if (!rows.length) return h('p', { class: 'muted' }, 'None.');
  return h('div', { class: 'scroll' }, h('table', { 'aria-label': label },
    h('thead', {}, h('tr', {}, columns.map(([, title]) => h('th', { scope: 'col' }, title)))),
    h('tbody', {}, rows.map((row) => h('tr', {}, columns.map(([key, title]) => h('td', { 'data-label': title },
      formatCell(key, row[key]))))))));
}

function formatCell(key, value) {
  if (key.endsWith('_at')) return when(value);
  if (value === null || value === undefined) return '—';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

async function storesCard(me) {
  const card = h('section', { class: 'card', 'aria-labelledby': 'stores-title' }, h('h2', { id: 'stores-title' }, 'Stores'));
  try {
    const body = await api.get(me.isAdmin ? '/v2/info/stores/detail' : '/v2/info/stores');
    card.append(table('Stores', [['id', 'Id'], ['type', 'Type'], ['description', 'Description'],
      ['default', 'Default'], ['read-only', 'Read-only'], ['properties', 'Properties']], body.stores));
  } catch (failure) {
    card.append(h('p', { class: 'muted' }, failure.message));
  }
  return card;
}

async function tasksCard() {
  const card = h('section', { class: 'card', 'aria-labelledby': 'tasks-title' }, h('h2', { id: 'tasks-title' }, 'Tasks'));
  try {
    const body = await api.get('/v2/tasks?limit=50&sort_key=created_at&sort_dir=desc');
    card.append(table('Tasks', [['id', 'Id'], ['type', 'Type'], ['status', 'Status'], ['owner', 'Owner'],
      ['created_at', 'Created'], ['updated_at', 'Updated'], ['message', 'Message']], body.tasks));
  } catch (failure) {
    card.append(h('p', { class: 'muted' }, failure.message));
  }
  return card;
}

// The caller's usage and limits (GET /v2/info/usage, Glance's shape: sizes in
// MiB, a limit of -1 means none); null when the server offers no usage.
const USAGE_NAMES = {
  image_size_total: ['Image data', 'MiB'], image_stage_total: ['Staging area', 'MiB'],
  image_count_total: ['Images', ''], image_count_uploading: ['Uploads in progress', ''],
};

function usageRow(name, { usage, limit }) {
  const [label, unit] = USAGE_NAMES[name] || [name, ''];
  const amount = (value) => (unit ? `${value} ${unit}` : String(value));
  const unlimited = limit === null || limit === undefined || limit < 0;
  return h('tr', {},
    h('th', { scope: 'row' }, label),
    h('td', { 'data-label': 'Used', class: 'number' }, amount(usage)),
    h('td', { 'data-label': 'Limit', class: 'number' }, unlimited ? 'no limit' : amount(limit)),
    h('td', { 'data-label': 'Share' }, unlimited ? '—' : h('meter', { min: 0, max: Math.max(limit, 1), value: usage,
      high: limit * 0.9, 'aria-label': `${label}: ${usage} of ${limit}` })));
}

async function usageCard() {
  let body;
  try {
    body = await api.get('/v2/info/usage');
  } catch (failure) {
    if (failure.status === 404) return null;
    return h('section', { class: 'card' }, h('h2', {}, 'Usage'), h('p', { class: 'muted' }, failure.message));
  }
  const rows = Object.entries(body.usage || {});
  const title = h('h2', { id: 'usage-title' }, 'Usage');
  if (!rows.length) {
    return h('section', { class: 'card', 'aria-labelledby': 'usage-title' }, title,
      h('p', { class: 'muted' }, 'No limits are set for this project.'));
  }
  return h('section', { class: 'card', 'aria-labelledby': 'usage-title' }, title,
    h('div', { class: 'scroll' }, h('table', { class: 'stacked', 'aria-label': 'Usage' },
      h('thead', {}, h('tr', {}, ['', 'Used', 'Limit', 'Share'].map((title) => h('th', { scope: 'col' }, title)))),
      h('tbody', {}, rows.map(([name, value]) => usageRow(name, value))))));
}

export async function serviceViews(me) {
  show(h('h1', {}, 'Service'), h('p', { class: 'muted' }, 'Loading…'));
  const cards = await Promise.all([storesCard(me), tasksCard(), usageCard(), cacheCard(), auditCard()]);
  if (window.location.hash !== '#/admin') return;
  show(h('h1', {}, 'Service'), cards);
}
