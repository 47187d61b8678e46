// Boot: find the session, then route on the URL's fragment (#/images, #/images/ID, ...).

import * as api from './api.js';
import { h, show, field } from './dom.js';
import { imageList } from './images.js';

// Views other than the list load when first used: the first page needs only the list.
const later = (module, name) => (...args) => import(module).then((loaded) => loaded[name](...args));
const imageDetails = later('./image.js', 'imageDetails');
const createImage = later('./create.js', 'createImage');
const serviceViews = later('./admin.js', 'serviceViews');

export const me = { session: null, canWrite: false, isAdmin: false };

const routes = [
  [/^#\/images\/([0-9a-f-]{36})$/, (match) => imageDetails(match[1], me)],
  [/^#\/create$/, () => createImage(me)],
  [/^#\/shared(\?.*)?$/, (match) => imageList(me, match[1] || '', { shared: true })],
  [/^#\/admin$/, () => serviceViews(me)],
  [/^#\/images(\?.*)?$/, (match) => imageList(me, match[1] || '', {})],
];

function route() {
  if (!me.session) return;
  const hash = window.location.hash || '#/images';
  for (const [pattern, view] of routes) {
    const match = hash.match(pattern);
    if (match) {
      markCurrent(hash);
      view(match);
      document.getElementById('view').focus({ preventScroll: true });
      return;
    }
  }
  window.location.hash = '#/images';
}

function markCurrent(hash) {
  for (const link of document.querySelectorAll('#nav a')) {
    const current = hash.startsWith(link.getAttribute('href'));
    if (current) link.setAttribute('aria-current', 'page'); else link.removeAttribute('aria-current');
  }
}

function signedIn(session) {
  me.session = session;
  const roles = new Set(session.roles || []);
  me.isAdmin = roles.has('admin');
  me.canWrite = me.isAdmin || roles.has('member') || session.auth === 'none';
  api.useSession(session, expired);
  const nav = document.getElementById('nav');
  nav.hidden = false;
  for (const link of nav.querySelectorAll('[data-write]')) link.hidden = !me.canWrite;
  const who = document.getElementById('who');
  const name = session.user ? `${session.user} · ${session.project || ''}` : 'No authentication';
  who.replaceChildren(h('span', { class: 'muted', title: (session.roles || []).join(', ') }, name));
  if (session.auth === 'keystone') who.append(h('button', { type: 'button', class: 'link', onclick: logOut }, 'Log out'));
  route();
}

function signedOut() {
  me.session = null;
  document.getElementById('nav').hidden = true;
  document.getElementById('who').replaceChildren();
}

async function logOut() {
  await api.logOut();
  signedOut();
  loginPage('You are logged out.');
}

function expired() {
  signedOut();
  show(h('section', { class: 'card narrow', 'aria-labelledby': 'expired-title' },
    h('h1', { id: 'expired-title' }, 'Your session has expired'),
    h('p', {}, 'The token this console used is no longer valid. Log in again to continue; nothing you saved is lost.'),
    h('button', { type: 'button', onclick: () => loginPage() }, 'Log in again')));
}

function loginPage(notice) {
  const error = h('p', { class: 'error', role: 'alert' });
  const inputs = {
    username: h('input', { name: 'username', autocomplete: 'username', required: true }),
    password: h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true }),
    domain: h('input', { name: 'domain', value: 'Default' }),
    project: h('input', { name: 'project', required: true }),
  };
  const form = h('form', { class: 'card narrow', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'Log in to Glint'),
    notice ? h('p', { class: 'muted' }, notice) : null,
    field('User name', inputs.username), field('Password', inputs.password),
    field('Domain', inputs.domain), field('Project', inputs.project),
    error, h('button', { type: 'submit' }, 'Log in'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    const credentials = Object.fromEntries(Object.entries(inputs).map(([k, input]) => [k, input.value]));
    inputs.password.value = '';
    try {
      signedIn(await api.logIn(credentials));
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
  show(form);
  inputs.username.focus();
}

async function boot() {
  const session = await api.session();
  if (session.authenticated) signedIn(session);
  else if (session.expired) expired();
  else loginPage();
}

window.addEventListener('hashchange', route);
boot();
