// Safe rendering of FHIR narratives (Resource.text.div, Composition.section.text.div).
//
// Narratives are XHTML written by the server — but the server stores what clients send, so they are
// treated as untrusted. The markup is parsed into an inert document with DOMParser (scripts never run
// there, images never load) and rebuilt, element by element, in the page's document from an allow-list
// of the FHIR narrative elements (http://hl7.org/fhir/R4/narrative.html) and a few attributes. Everything
// else is dropped: scripts, styles, event handlers, ids and classes (no DOM clobbering, no styling
// surprises), images (no remote loads), links whose target is not http(s), and foreign elements (SVG,
// MathML). Unknown elements are unwrapped (their text is kept); dangerous ones are dropped with their
// content.

const XHTML = 'http://www.w3.org/1999/xhtml';
const XMLNS_XHTML = /\sxmlns\s*=\s*(["'])http:\/\/www\.w3\.org\/1999\/xhtml\1/g;

/** Elements kept, with the attributes each may keep (besides the global ones). */
const ELEMENTS = {
  div: [], p: [], br: [], hr: [], span: [], b: [], strong: [], i: [], em: [], u: [], s: [], small: [],
  big: [], sub: [], sup: [], tt: [], code: [], pre: [], q: [], cite: [], abbr: [], acronym: [], dfn: [],
  kbd: [], samp: [], var: [], blockquote: [], address: [], bdo: [],
  h1: [], h2: [], h3: [], h4: [], h5: [], h6: [],
  ul: [], ol: ['start', 'type'], li: ['value'], dl: [], dt: [], dd: [],
  table: ['summary'], caption: [], thead: [], tbody: [], tfoot: [], tr: [], colgroup: ['span'], col: ['span'],
  th: ['colspan', 'rowspan', 'scope', 'abbr', 'headers'], td: ['colspan', 'rowspan', 'headers', 'abbr'],
  a: ['href'],
};
const GLOBAL_ATTRIBUTES = ['title', 'lang', 'dir'];

/** Elements dropped together with everything inside them. */
const DROP = new Set(['script', 'style', 'template', 'iframe', 'frame', 'frameset', 'object', 'embed',
  'applet', 'noscript', 'svg', 'math', 'link', 'meta', 'base', 'form', 'input', 'button', 'select',
  'textarea', 'option', 'title', 'head', 'img', 'video', 'audio', 'source', 'picture', 'canvas']);

const MAX_DEPTH = 40;

/**
 * sanitizeNarrative parses an XHTML (or, failing that, HTML) fragment and returns a DocumentFragment of
 * the page's document holding only allowed elements, attributes and text.
 */
export function sanitizeNarrative(markup) {
  const out = document.createDocumentFragment();
  if (typeof markup !== 'string' || markup.trim() === '') return out;
  const parser = new DOMParser();
  let root = null;
  // Parsed as plain XML without the XHTML default namespace, the elements are inert generic elements:
  // the browser does not even look at their style or on* attributes (so the Content-Security-Policy
  // has nothing to report).
  const xml = parser.parseFromString(markup.replace(XMLNS_XHTML, ''), 'application/xml');
  if (xml.getElementsByTagNameNS('*', 'parsererror').length === 0 && xml.documentElement) {
    root = xml.documentElement;
  } else {
    // Not well-formed: parse as HTML (still inert: no script runs, nothing loads) and read the body.
    root = parser.parseFromString(markup, 'text/html').body;
  }
  copyChildren(root, out, 0);
  return out;
}

function copyChildren(from, to, depth) {
  if (depth > MAX_DEPTH) return;
  for (const node of Array.from(from.childNodes)) {
    if (node.nodeType === Node.TEXT_NODE || node.nodeType === Node.CDATA_SECTION_NODE) {
      to.appendChild(document.createTextNode(node.nodeValue));
      continue;
    }
    if (node.nodeType !== Node.ELEMENT_NODE) continue; // comments, processing instructions
    const name = node.localName.toLowerCase();
    const ns = node.namespaceURI;
    if (ns !== XHTML && ns !== null) continue; // SVG, MathML, other XML vocabularies
    if (DROP.has(name)) continue;
    const allowed = ELEMENTS[name];
    if (!allowed) {
      copyChildren(node, to, depth + 1); // unknown element: keep its content
      continue;
    }
    const el = document.createElement(name);
    for (const attr of [...GLOBAL_ATTRIBUTES, ...allowed]) {
      const v = node.getAttribute(attr);
      if (v === null) continue;
      if (attr === 'href') {
        const href = safeHref(v);
        if (href) {
          el.setAttribute('href', href);
          el.setAttribute('rel', 'noopener noreferrer nofollow');
          el.setAttribute('target', '_blank');
        }
        continue;
      }
      if ((attr === 'colspan' || attr === 'rowspan' || attr === 'span' || attr === 'start' || attr === 'value') && !/^\d{1,4}$/.test(v)) continue;
      el.setAttribute(attr, v);
    }
    copyChildren(node, el, depth + 1);
    to.appendChild(el);
  }
}

/** safeHref keeps absolute http(s) links only (relative ones would resolve against the app). */
function safeHref(v) {
  try {
    const u = new URL(v.trim());
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}
