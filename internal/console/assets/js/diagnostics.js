// Diagnostics: the connection log of refused and dropped devices, and live
// counts.
import { api, h, field, fmtTime, BASE } from './lib.js';
import { chart } from './chart.js';

export async function page(m) {
  document.title = 'Diagnostics · thingcore';
  const q = h('input', { type: 'search', id: 'log-filter', placeholder: 'thing, client id or certificate id' });
  const body = h('tbody', { id: 'connection-log' });
  const stat = (k, id) => { const v = h('div', { class: 'v', id }, '–'); return [h('div', { class: 'stat' }, v, h('div', { class: 'k' }, k)), v]; };
  const [cEl, cV] = stat('connected devices', 'stat-connections');
  const [iEl, iV] = stat('messages in / s', 'stat-in');
  const [oEl, oV] = stat('messages out / s', 'stat-out');
  const [sEl, sV] = stat('shadow updates / s', 'stat-shadow');
  const ch = chart('Messages in per second');
  const points = [];
  async function load() {
    const r = await api('GET', 'diagnostics?q=' + encodeURIComponent(q.value.trim()));
    body.replaceChildren(...r.log.map(x => h('tr', {},
      h('td', {}, fmtTime(x.time)),
      h('td', {}, x.kind === 'refused' ? 'refused' : 'dropped'),
      h('td', {}, x.clientId ? h('a', { href: '#/things/' + encodeURIComponent(x.clientId) }, x.clientId) : '—'),
      h('td', { class: 'mono', title: x.certificateId || '' }, x.certificateId ? x.certificateId.slice(0, 12) + '…' : '—'),
      h('td', {}, x.code),
      h('td', {}, x.reason))));
    if (!r.log.length) body.append(h('tr', {}, h('td', { colspan: 6 }, q.value ? 'No entry matches.' : 'No refused or dropped device since the hub started.')));
  }
  let timer;
  q.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(load, 200); });
  const es = new EventSource(BASE + 'api/stats');
  es.addEventListener('stats', ev => {
    const s = JSON.parse(ev.data);
    cV.textContent = s.connections;
    iV.textContent = s.messagesInPerSec.toFixed(1);
    oV.textContent = s.messagesOutPerSec.toFixed(1);
    sV.textContent = s.shadowUpdatesPerSec.toFixed(1);
    points.push({ t: s.time, v: s.messagesInPerSec });
    if (points.length > 120) points.shift();
    ch.update(points);
  });
  m.append(
    h('h1', {}, 'Diagnostics'),
    h('div', { class: 'stats', 'aria-live': 'off' }, cEl, iEl, oEl, sEl),
    h('div', { class: 'panel' }, h('h2', {}, 'Messages in per second'), ch.el),
    h('div', { class: 'panel' },
      h('div', { class: 'row' }, h('h2', { class: 'grow' }, 'Connection log'), h('button', { type: 'button', class: 'secondary', onclick: () => load() }, 'Refresh')),
      h('p', { class: 'hint' }, 'Refused connections and devices the hub dropped, newest first, with the reason in words.'),
      field('Filter', q),
      h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Time'), h('th', {}, 'What'), h('th', {}, 'Client id'), h('th', {}, 'Certificate'), h('th', {}, 'Code'), h('th', {}, 'Reason'))), body)));
  await load();
  const every = setInterval(() => load().catch(() => {}), 3000);
  return () => { es.close(); clearInterval(every); clearTimeout(timer); };
}
