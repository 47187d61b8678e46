// Sharing: the owner adds and removes member projects; a member accepts or rejects.

import * as api from './api.js';
import { h, field, toast, when } from './dom.js';

async function run(work, reload, message) {
  try {
    await work();
    toast(message);
    reload();
  } catch (failure) {
    toast(failure.message, 'error');
  }
}

async function ownerView(image, reload) {
  const section = h('section', { class: 'card', 'aria-labelledby': 'members-title' }, h('h2', { id: 'members-title' }, 'Members'));
  if (image.visibility !== 'shared') {
    section.append(h('p', { class: 'muted' }, 'Set the visibility to “shared” to share this image with other projects.'));
    return section;
  }
  let members = [];
  try {
    members = (await api.get(`/v2/images/${image.id}/members`)).members;
  } catch (failure) {
    section.append(h('p', { class: 'error' }, failure.message));
    return section;
  }
  section.append(members.length ? h('table', { class: 'members' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Project'), h('th', { scope: 'col' }, 'Status'),
      h('th', { scope: 'col' }, 'Since'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Remove')))),
    h('tbody', {}, members.map((member) => h('tr', {},
      h('td', { class: 'mono' }, member.member_id), h('td', { class: 'member-status' }, member.status),
      h('td', {}, when(member.updated_at)),
      h('td', {}, h('button', { type: 'button', class: 'link', 'aria-label': `Remove member ${member.member_id}`,
        onclick: () => run(() => api.del(`/v2/images/${image.id}/members/${member.member_id}`), reload, 'Member removed') }, 'Remove'))))))
    : h('p', { class: 'muted' }, 'Not shared with any project yet.'));
  const input = h('input', { name: 'member', required: true, placeholder: 'Project id' });
  const form = h('form', { class: 'row' }, field('Share with project', input), h('button', { type: 'submit' }, 'Add member'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    run(async () => { await api.post(`/v2/images/${image.id}/members`, { member: input.value.trim() }); input.value = ''; },
      reload, 'Member added');
  });
  section.append(form);
  return section;
}

async function memberView(image, me, reload) {
  const project = me.session.project_id;
  let member;
  try {
    member = await api.get(`/v2/images/${image.id}/members/${project}`);
  } catch {
    return null;
  }
  const answer = (status) => run(() => api.put(`/v2/images/${image.id}/members/${project}`, { status }), reload,
    status === 'accepted' ? 'Image accepted' : 'Image rejected');
  return h('section', { class: 'card', 'aria-labelledby': 'membership-title' },
    h('h2', { id: 'membership-title' }, 'Shared with your project'),
    h('p', {}, 'Your project’s answer: ', h('strong', { class: 'member-status' }, member.status)),
    me.canWrite ? h('div', { class: 'row' },
      h('button', { type: 'button', onclick: () => answer('accepted'), disabled: member.status === 'accepted' }, 'Accept'),
      h('button', { type: 'button', onclick: () => answer('rejected'), disabled: member.status === 'rejected' }, 'Reject')) : null);
}

export async function membersSection(image, me, writable, reload) {
  if (writable) return ownerView(image, reload);
  if (image.visibility === 'shared' && me.session.project_id && image.owner !== me.session.project_id) {
    return (await memberView(image, me, reload)) || '';
  }
  return '';
}
