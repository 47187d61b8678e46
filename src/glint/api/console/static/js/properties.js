// Editing an image's name and properties. Property names are suggested from
// the metadata definitions for OS::Glance::Image, and values checked against them.

import * as api from './api.js';
import { h, field, toast } from './dom.js';

const RESOURCE_TYPE = 'OS::Glance::Image';
const CORE = new Set(['id', 'name', 'status', 'visibility', 'size', 'virtual_size', 'disk_format',
  'container_format', 'checksum', 'os_hash_algo', 'os_hash_value', 'min_disk', 'min_ram', 'owner',
  'protected', 'os_hidden', 'created_at', 'updated_at', 'tags', 'locations', 'direct_url', 'stores',
  'self', 'file', 'schema']);
let definitions = null;

function prefixOf(namespace) {
  const association = (namespace.resource_type_associations || []).find((a) => a.name === RESOURCE_TYPE);
  return (association && association.prefix) || '';
}

async function loadDefinitions() {
  if (definitions) return definitions;
  const found = new Map();
  const list = await api.get(`/v2/metadefs/namespaces?resource_types=${encodeURIComponent(RESOURCE_TYPE)}&limit=100`);
  await Promise.all(list.namespaces.map(async (summary) => {
    const namespace = await api.get(`/v2/metadefs/namespaces/${encodeURIComponent(summary.namespace)}`);
    const prefix = prefixOf(namespace);
    const groups = [namespace.properties || {}, ...(namespace.objects || []).map((o) => o.properties || {})];
    for (const properties of groups) {
      for (const [name, definition] of Object.entries(properties)) found.set(prefix + name, definition);
    }
  }));
  definitions = found;
  return found;
}

// Why `value` does not fit the definition, or '' when it does (or none is known).
export function problemWith(definition, value) {
  if (!definition) return '';
  const kind = definition.type;
  if (definition.enum && !definition.enum.includes(value)) return `one of: ${definition.enum.join(', ')}`;
  if (kind === 'integer' || kind === 'number') {
    const number = Number(value);
    if (value.trim() === '' || Number.isNaN(number) || (kind === 'integer' && !Number.isInteger(number))) return `a${kind === 'integer' ? 'n integer' : ' number'}`;
    if (definition.minimum !== undefined && number < definition.minimum) return `at least ${definition.minimum}`;
    if (definition.maximum !== undefined && number > definition.maximum) return `at most ${definition.maximum}`;
  }
  if (kind === 'boolean' && !['true', 'false'].includes(value.toLowerCase())) return 'true or false';
  if (kind === 'string' && definition.pattern && !new RegExp(definition.pattern).test(value)) return `matching ${definition.pattern}`;
  return '';
}

function propertyRow(name, value, known, onRemove) {
  const nameInput = h('input', { name: 'property-name', value: name, list: 'metadef-names', 'aria-label': 'Property name' });
  const valueInput = h('input', { name: 'property-value', value, 'aria-label': 'Property value' });
  const note = h('small', { class: 'muted' });
  const check = () => {
    const definition = known.get(nameInput.value.trim());
    const problem = problemWith(definition, valueInput.value);
    note.textContent = problem ? `Must be ${problem}` : (definition && definition.title) || '';
    note.className = problem ? 'error' : 'muted';
    return !problem;
  };
  nameInput.addEventListener('input', check);
  valueInput.addEventListener('input', check);
  const line = h('div', { class: 'property' }, nameInput, valueInput,
    h('button', { type: 'button', class: 'link', 'aria-label': `Remove property ${name}`, onclick: () => { line.remove(); onRemove(); } }, '×'),
    note);
  line.check = check;
  line.entry = () => [nameInput.value.trim(), valueInput.value];
  return line;
}

function patchOps(image, name, entries) {
  const ops = [];
  if (name !== (image.name || '')) ops.push({ op: 'replace', path: '/name', value: name || null });
  const before = Object.fromEntries(Object.entries(image).filter(([k]) => !CORE.has(k) && !k.startsWith('os_glance_')));
  const after = Object.fromEntries(entries.filter(([k]) => k));
  for (const key of Object.keys(before)) if (!(key in after)) ops.push({ op: 'remove', path: `/${key}` });
  for (const [key, value] of Object.entries(after)) {
    if (before[key] !== value) ops.push({ op: key in before ? 'replace' : 'add', path: `/${key}`, value });
  }
  return ops;
}

export function propertyEditor(image, reload) {
  const known = new Map();
  const names = h('datalist', { id: 'metadef-names' });
  const nameInput = h('input', { name: 'name', value: image.name || '', maxlength: '255' });
  const rows = h('div', { class: 'properties' });
  const properties = Object.entries(image).filter(([k, v]) => !CORE.has(k) && !k.startsWith('os_glance_') && typeof v === 'string');
  for (const [key, value] of properties) rows.append(propertyRow(key, value, known, () => {}));
  const add = h('button', { type: 'button', onclick: () => {
    const line = propertyRow('', '', known, () => {});
    rows.append(line);
    line.querySelector('input').focus();
  } }, 'Add property');
  const form = h('form', { class: 'card', 'aria-label': 'Edit' }, h('h2', {}, 'Edit'), names,
    field('Name', nameInput), h('h3', {}, 'Properties'), rows, h('div', { class: 'row' }, add,
      h('button', { type: 'submit', class: 'primary' }, 'Save')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const lines = [...rows.children];
    if (!lines.every((line) => line.check())) { toast('Some values do not fit their definitions.', 'error'); return; }
    const ops = patchOps(image, nameInput.value, lines.map((line) => line.entry()));
    if (!ops.length) { toast('Nothing changed.'); return; }
    try {
      await api.patchImage(image.id, ops);
      toast('Saved');
      reload();
    } catch (failure) {
      toast(failure.message, 'error');
    }
  });
  loadDefinitions().then((found) => {
    for (const [name, definition] of found) known.set(name, definition);
    names.replaceChildren(...[...found.keys()].sort().map((name) => h('option', { value: name })));
  }).catch(() => {});
  return form;
}
