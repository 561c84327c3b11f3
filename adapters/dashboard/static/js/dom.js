// Small DOM helpers. Everything the app shows is built with createElement and text nodes: no string of
// markup is ever assigned to innerHTML (server narratives go through sanitize.js).

/**
 * h builds an element: h('p', {class: 'x', onclick: fn}, 'text', child, [more, children]).
 * Attribute values are set with setAttribute (strings) or as properties (booleans: hidden, disabled, …);
 * on* keys add event listeners; null/undefined/false attributes and children are skipped.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (v === true) {
      el.setAttribute(k, '');
    } else {
      el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

/** append adds children (strings become text nodes; arrays are flattened; null/false are skipped). */
export function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
  return el;
}

/** clear removes every child of el. */
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

let idCounter = 0;
/** uid returns a document-unique id with a prefix (for aria-labelledby and label/for pairs). */
export function uid(prefix) {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}
