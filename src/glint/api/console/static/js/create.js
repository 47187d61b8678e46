// A new image from a file on this computer (streamed, with progress, speed and
// time left) or from a URL (web-download, with the import task's progress).

import * as api from './api.js';
import { h, show, field, select, toast, bytes, duration } from './dom.js';

const EXTENSIONS = { qcow2: 'qcow2', img: 'raw', raw: 'raw', iso: 'iso', vmdk: 'vmdk', vhd: 'vhd',
  vhdx: 'vhdx', vdi: 'vdi', ami: 'ami', ari: 'ari', aki: 'aki', ploop: 'ploop' };

// The disk format from the file's first bytes where they say it, else from its name.
async function guessFormat(file) {
  const head = new Uint8Array(await file.slice(0, 8).arrayBuffer());
  const text = String.fromCharCode(...head);
  if (text.startsWith('QFI\xfb')) return 'qcow2';
  if (text.startsWith('KDMV')) return 'vmdk';
  if (text.startsWith('vhdxfile')) return 'vhdx';
  if (text.startsWith('conectix')) return 'vhd';
  const extension = file.name.split('.').pop().toLowerCase();
  return EXTENSIONS[extension] || 'raw';
}

async function formats() {
  try {
    const schema = await api.get('/v2/schemas/image');
    return { disk: schema.properties.disk_format.enum.filter(Boolean), container: schema.properties.container_format.enum.filter(Boolean) };
  } catch {
    return { disk: ['raw', 'qcow2', 'iso'], container: ['bare'] };
  }
}

async function available() {
  const [stores, methods] = await Promise.all([
    api.get('/v2/info/stores').then((body) => body.stores).catch(() => []),
    api.get('/v2/info/import').then((body) => body['import-methods'].value).catch(() => []),
  ]);
  return { stores, methods };
}

function progressPanel() {
  const bar = h('progress', { id: 'upload-progress', max: '100', value: '0', 'aria-label': 'Progress' });
  const text = h('span', { class: 'progress-text', 'aria-live': 'polite' });
  const panel = h('div', { class: 'progress', hidden: true }, bar, text);
  const started = performance.now();
  panel.update = (done, total, label = '') => {
    panel.hidden = false;
    const seconds = (performance.now() - started) / 1000;
    const speed = seconds > 0 ? done / seconds : 0;
    const percent = total ? Math.floor((done / total) * 100) : 0;
    bar.value = String(percent);
    text.textContent = `${label}${percent} % · ${bytes(done)} of ${total ? bytes(total) : '?'} · ${bytes(speed)}/s · ${
      total && speed > 0 ? duration((total - done) / speed) : '—'} left`;
  };
  return panel;
}

async function followImport(imageId, panel) {
  for (;;) {
    const image = await api.get(`/v2/images/${imageId}`);
    const tasks = (await api.get(`/v2/images/${imageId}/tasks`)).tasks || [];
    const task = tasks[0];
    const result = (task && task.result) || {};
    if (result.bytes_done !== undefined) panel.update(result.bytes_done, result.bytes_total, `${result.step}: `);
    if (image.status === 'active') { panel.update(image.size || 1, image.size || 1, 'Imported: '); return; }
    if (task && task.status === 'failure') throw new Error(task.message || 'The import failed.');
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

export async function createImage(me) {
  if (!me.canWrite) { show(h('p', {}, 'Your roles do not allow creating images.')); return; }
  const [{ disk, container }, { stores, methods }] = await Promise.all([formats(), available()]);
  const inputs = {
    name: h('input', { name: 'name', required: true, maxlength: '255' }),
    disk_format: select('disk_format', disk.map((f) => [f, f]), 'raw'),
    container_format: select('container_format', container.map((f) => [f, f]), 'bare'),
    visibility: select('visibility', ['private', 'shared', 'community', 'public'].map((v) => [v, v]), 'private'),
    file: h('input', { name: 'file', type: 'file' }),
    url: h('input', { name: 'url', type: 'url', placeholder: 'https://…' }),
  };
  const storeBoxes = stores.length > 1 ? stores.map((store) => h('label', { class: 'check' },
    h('input', { type: 'checkbox', name: 'store', value: store.id, checked: Boolean(store.default) }), store.id)) : [];
  const webDownload = methods.includes('web-download');
  inputs.file.addEventListener('change', async () => {
    const file = inputs.file.files[0];
    if (!file) return;
    if (!inputs.name.value) inputs.name.value = file.name.replace(/\.[^.]+$/, '');
    const guess = await guessFormat(file);
    if (disk.includes(guess)) inputs.disk_format.value = guess;
  });
  const panel = progressPanel();
  const outcome = h('p', { class: 'outcome', role: 'status' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Create image');
  const form = h('form', { class: 'card', 'aria-labelledby': 'create-title' },
    h('h1', { id: 'create-title' }, 'New image'),
    field('Name', inputs.name),
    h('div', { class: 'row' }, field('Disk format', inputs.disk_format), field('Container format', inputs.container_format),
      field('Visibility', inputs.visibility)),
    field('File to upload', inputs.file),
    webDownload ? field('Or a URL to download from', inputs.url, 'The server downloads it (web-download import).') : null,
    storeBoxes.length ? h('fieldset', {}, h('legend', {}, 'Stores'), storeBoxes) : null,
    submit, panel, outcome);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const file = inputs.file.files[0];
    const url = inputs.url.value.trim();
    if (!file && !url) { toast('Choose a file or give a URL.', 'error'); return; }
    const chosen = storeBoxes.map((label) => label.querySelector('input')).filter((box) => box.checked).map((box) => box.value);
    submit.disabled = true;
    try {
      const image = await api.post('/v2/images', { name: inputs.name.value, disk_format: inputs.disk_format.value,
        container_format: inputs.container_format.value, visibility: inputs.visibility.value });
      if (file) {
        await api.uploadFile(image.id, file, (done, total) => panel.update(done, total), chosen[0]);
      } else {
        const body = { method: { name: 'web-download', uri: url } };
        if (chosen.length) body.stores = chosen;
        await api.post(`/v2/images/${image.id}/import`, body);
        await followImport(image.id, panel);
      }
      outcome.replaceChildren('Done: ', h('a', { href: `#/images/${image.id}` }, image.name || image.id));
    } catch (failure) {
      outcome.replaceChildren(h('span', { class: 'error' }, failure.message));
    } finally {
      submit.disabled = false;
    }
  });
  show(form);
  inputs.name.focus();
}
