// The integrity auditor's findings (GET /v2/info/audit, admins by default): the
// copies recorded bad, and on an image's page which of its copies they are.
// Nothing is shown where the server answers 404 or 403.

import * as api from './api.js';
import { h, when } from './dom.js';

async function findings(query = '') {
  try {
    return await api.get(`/v2/info/audit${query}`);
  } catch (failure) {
    if (failure.status === 404 || failure.status === 403) return null;
    throw failure;
  }
}

function badTable(bad) {
  if (!bad.length) return h('p', { class: 'muted' }, 'No copy recorded bad.');
  const withUrls = bad.some((copy) => 'url' in copy);
  const titles = ['Image', 'Store', ...(withUrls ? ['Location'] : []), 'Verdict', 'What differed', 'Checked'];
  return h('div', { class: 'scroll' }, h('table', { class: 'stacked', 'aria-label': 'Copies recorded bad' },
    h('thead', {}, h('tr', {}, titles.map((title) => h('th', { scope: 'col' }, title)))),
    h('tbody', {}, bad.map((copy) => h('tr', {},
      h('td', { 'data-label': 'Image' }, h('a', { href: `#/images/${copy.image_id}`, class: 'mono' }, copy.image_id)),
      h('td', { 'data-label': 'Store' }, copy.store),
      withUrls ? h('td', { 'data-label': 'Location', class: 'mono' }, copy.url) : null,
      h('td', { 'data-label': 'Verdict' }, h('span', { class: `badge ${copy.verdict}` }, copy.verdict)),
      h('td', { 'data-label': 'What differed', class: 'mono' }, copy.differences.length
        ? h('div', {}, copy.differences.map((difference) => h('div', {}, difference))) : '—'),
      h('td', { 'data-label': 'Checked' }, when(copy.checked_at)))))));
}

function summaryLine(summary) {
  const passes = summary.unfinished_passes || [];
  return h('p', { class: 'audit-summary' },
    `${summary.mismatch} mismatch(es), ${summary.unreadable} unreadable.`,
    passes.map((run) => ` Pass “${run.scope}” unfinished: past image ${run.last_image_id} at ${when(run.updated_at)}.`));
}

// The auditor's card for the service page, or null when not offered.
export async function auditCard() {
  let body;
  try {
    body = await findings();
  } catch (failure) {
    return h('section', { class: 'card' }, h('h2', {}, 'Integrity audit'), h('p', { class: 'muted' }, failure.message));
  }
  if (body === null) return null;
  return h('section', { class: 'card', 'aria-labelledby': 'audit-title' },
    h('h2', { id: 'audit-title' }, 'Integrity audit'), summaryLine(body.summary), badTable(body.bad));
}

// For an image's page: URL -> the copy's bad verdict, empty when none (or not offered).
export async function badCopiesOf(imageId) {
  try {
    const body = await findings(`?image_id=${encodeURIComponent(imageId)}`);
    return new Map((body ? body.bad : []).map((copy) => [copy.url, copy]));
  } catch {
    return new Map();
  }
}
