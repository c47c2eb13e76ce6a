// The console's router: a page per hash route, rendered into <main>.
import { api, setCSRF, h, field } from './lib.js';
import * as things from './things.js';
import * as mqtt from './mqtt.js';
import * as policies from './policies.js';
import * as diagnostics from './diagnostics.js';

const main = () => document.getElementById('main');
let session = null;
let leave = null; // cleanup of the current page

const routes = [
  [/^#\/things\/new$/, () => things.wizard],
  [/^#\/things\/([^/]+)\/shadow(?:\/([^/]*))?$/, () => things.shadowEditor],
  [/^#\/things\/([^/]+)$/, () => things.detail],
  [/^#\/things$/, () => things.list],
  [/^#\/mqtt$/, () => mqtt.page],
  [/^#\/policies\/([^/]+)$/, () => policies.detail],
  [/^#\/policies$/, () => policies.list],
  [/^#\/diagnostics$/, () => diagnostics.page],
];

let methods = { password: false };

async function loadSession() {
  methods = await api('GET', 'login');
  session = methods.session;
  if (session) setCSRF(session.csrfToken);
}

async function render() {
  if (leave) { leave(); leave = null; }
  const hash = location.hash || '#/things';
  const m = main();
  if (!session && hash !== '#/signin') await loadSession();
  document.querySelector('.top').hidden = !session;
  if (!session) { signin(m); return; }
  if (hash === '#/signin') { location.hash = '#/things'; return; }
  document.getElementById('user').textContent = session.user;
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (hash.startsWith('#/' + a.dataset.nav)) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  for (const [re, page] of routes) {
    const match = hash.match(re);
    if (match) {
      m.replaceChildren();
      try {
        leave = await page()(m, ...match.slice(1).map(x => x === undefined ? undefined : decodeURIComponent(x))) || null;
      } catch (e) {
        m.append(h('p', { class: 'error', role: 'alert' }, e.message));
      }
      m.focus({ preventScroll: true });
      return;
    }
  }
  location.hash = '#/things';
}

function signin(m) {
  document.title = 'Sign in · thingcore';
  const key = h('input', { type: 'text', autocomplete: 'username', id: 'access-key-id', required: true, spellcheck: 'false' });
  const secret = h('input', { type: 'password', autocomplete: 'current-password', id: 'secret-access-key', required: true });
  const pw = h('input', { type: 'password', autocomplete: 'current-password', id: 'console-password' });
  const err = h('p', { class: 'error', role: 'alert' });
  const pwBox = h('div', { hidden: true },
    h('h2', {}, 'Or with the console password'),
    field('Console password', pw, 'Set with `thingcore console password`.'));
  pwBox.hidden = !methods.password;
  const form = h('form', {
    class: 'panel', onsubmit: async ev => {
      ev.preventDefault();
      err.textContent = '';
      const body = pw.value ? { password: pw.value } : { accessKeyId: key.value.trim(), secretAccessKey: secret.value };
      try {
        session = await api('POST', 'login', body);
        setCSRF(session.csrfToken);
        location.hash = '#/things';
        render();
      } catch (e) { err.textContent = e.message; }
    },
  },
  h('h1', {}, 'Sign in to thingcore'),
  h('p', { class: 'hint' }, 'Use the admin access key the hub created at first start (it is in thingcore-data/admin-credentials.json).'),
  field('Access key ID', key),
  field('Secret access key', secret),
  pwBox, err,
  h('button', { type: 'submit' }, 'Sign in'));
  pw.addEventListener('input', () => { key.required = secret.required = !pw.value; });
  m.replaceChildren(h('div', { class: 'signin' }, form));
  key.focus();
}

document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('signout').addEventListener('click', async () => {
    try { await api('POST', 'logout'); } catch { /* signed out anyway */ }
    session = null;
    location.hash = '#/signin';
  });
  window.addEventListener('hashchange', render);
  render();
});
