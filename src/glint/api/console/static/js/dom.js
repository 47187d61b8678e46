// Building DOM nodes without innerHTML: text from the API is never parsed as HTML.

export function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else if (name === 'dataset') Object.assign(node.dataset, value);
    else if (name in node && typeof value !== 'string') node[name] = value;
    else node.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function show(...children) {
  const view = document.getElementById('view');
  view.replaceChildren(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
  return view;
}

// What a person was typing survives a redraw of the page: the values of text
// inputs changed since they were drawn (matched by name, where the name is
// unique on the page) and the focus are carried over to the new ones.
function uniquelyNamed(view) {
  const inputs = [...view.querySelectorAll('input[name], textarea[name]')]
    .filter((input) => !['file', 'checkbox', 'radio', 'password'].includes(input.type));
  const counts = new Map();
  for (const input of inputs) counts.set(input.name, (counts.get(input.name) || 0) + 1);
  return new Map(inputs.filter((input) => counts.get(input.name) === 1).map((input) => [input.name, input]));
}

export function redraw(...children) {
  const view = document.getElementById('view');
  const typed = [...uniquelyNamed(view)].filter(([, input]) => input.value !== input.defaultValue);
  const focused = view.contains(document.activeElement) ? document.activeElement.name : null;
  show(...children);
  const fresh = uniquelyNamed(view);
  for (const [name, old] of typed) {
    const input = fresh.get(name);
    if (input && input.value === input.defaultValue) input.value = old.value;
  }
  if (focused && fresh.has(focused)) fresh.get(focused).focus();
  return view;
}

let toastTimer = null;
export function toast(message, kind = 'info') {
  const box = document.getElementById('toast');
  box.className = kind;
  box.textContent = message;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.textContent = ''; box.className = ''; }, 6000);
}

export function bytes(size) {
  if (size === null || size === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function when(text) {
  if (!text) return '—';
  const moment = new Date(text.endsWith('Z') ? text : `${text}Z`);
  return Number.isNaN(moment.getTime()) ? text : moment.toISOString().replace('T', ' ').slice(0, 19);
}

export function duration(seconds) {
  if (!Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), control,
    hint ? h('small', { class: 'muted' }, hint) : null);
}

export function select(name, options, value) {
  return h('select', { name },
    options.map(([optionValue, text]) => h('option', { value: optionValue, selected: optionValue === value }, text)));
}

// A confirmation as a modal <dialog>: resolves true only on the confirm button.
export function confirmDialog(message, confirmText) {
  return new Promise((resolve) => {
    const dialog = h('dialog', { class: 'confirm', 'aria-label': 'Confirm' },
      h('p', {}, message),
      h('form', { method: 'dialog', class: 'actions' },
        h('button', { value: 'cancel', autofocus: true }, 'Cancel'),
        h('button', { value: 'confirm', class: 'danger' }, confirmText)));
    dialog.addEventListener('close', () => { dialog.remove(); resolve(dialog.returnValue === 'confirm'); });
    document.body.append(dialog);
    dialog.showModal();
  });
}
