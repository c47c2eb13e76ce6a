// The MQTT test client: live subscriptions over Server-Sent Events, publish,
// and a live chart of a numeric field.
import { api, h, field, fmtClock, pretty, toast, BASE } from './lib.js';
import { chart, numericFields } from './chart.js';

const MAX = 1000; // messages kept in the page

// The subscription outlives the page: messages keep arriving while the user
// looks at a thing, and are there on return.
const state = { filters: [], es: null, messages: [], paused: false, dropped: 0, series: new Map(), chartField: '', onchange: null };

function connect() {
  if (state.es) { state.es.close(); state.es = null; }
  if (!state.filters.length) return;
  const qs = state.filters.map(f => 'filter=' + encodeURIComponent(f)).join('&');
  const es = new EventSource(BASE + 'api/stream?' + qs);
  es.addEventListener('message', ev => {
    const m = JSON.parse(ev.data);
    let json;
    try { json = JSON.parse(m.payload); } catch { json = undefined; }
    m.json = json;
    if (json !== undefined) {
      for (const [k, v] of numericFields(json)) {
        const key = m.topic + ' ' + k;
        const s = state.series.get(key) || [];
        s.push({ t: m.time, v });
        if (s.length > 120) s.shift();
        state.series.set(key, s);
      }
    }
    if (state.paused) return;
    state.messages.unshift(m);
    if (state.messages.length > MAX) state.messages.pop();
    state.onchange && state.onchange('message');
  });
  es.addEventListener('dropped', ev => { state.dropped = JSON.parse(ev.data).dropped; state.onchange && state.onchange('dropped'); });
  es.addEventListener('subscribed', () => { state.onchange && state.onchange('subscribed'); });
  es.onerror = () => { state.onchange && state.onchange('error'); };
  state.es = es;
}

export async function page(m) {
  document.title = 'MQTT test client · thingcore';
  const filterIn = h('input', { type: 'text', id: 'sub-filter', placeholder: '$aws/things/+/shadow/update', spellcheck: 'false' });
  const chips = h('div', { class: 'filters', 'aria-label': 'Subscriptions' });
  const live = h('span', { class: 'hint', id: 'stream-state', 'aria-live': 'polite' });
  const search = h('input', { type: 'search', id: 'msg-filter', placeholder: 'topic or payload text' });
  const list = h('div', { class: 'messages', id: 'messages', role: 'log', 'aria-label': 'Received messages' });
  const count = h('span', { class: 'hint' });
  const pause = h('button', { type: 'button', class: 'secondary', 'aria-pressed': String(state.paused) }, state.paused ? 'Resume' : 'Pause');
  const fieldSel = h('select', { id: 'chart-field' });
  const ch = chart('Chart of the selected numeric field');

  function renderChips() {
    chips.replaceChildren(...state.filters.map(f => h('span', { class: 'chip' }, f,
      h('button', { type: 'button', 'aria-label': `Unsubscribe from ${f}`, onclick: () => { state.filters = state.filters.filter(x => x !== f); connect(); renderChips(); } }, '×'))));
    if (!state.filters.length) { chips.append(h('span', { class: 'hint' }, 'No subscriptions.')); live.textContent = ''; }
  }
  function msgEl(x) {
    const props = [];
    if (x.contentType) props.push(`content-type: ${x.contentType}`);
    if (x.responseTopic) props.push(`response-topic: ${x.responseTopic}`);
    for (const p of x.userProperties || []) props.push(`${p.key}: ${p.value}`);
    return h('div', { class: 'msg' },
      h('div', { class: 'meta' }, h('span', { class: 'topic' }, x.topic), h('span', {}, fmtClock(x.time)), h('span', {}, `QoS ${x.qos}`),
        x.retain ? h('span', {}, 'retained') : null, x.publisher ? h('span', {}, `from ${x.publisher}`) : null, props.length ? h('span', {}, props.join(' · ')) : null),
      h('pre', {}, x.base64 ? `(binary, base64) ${x.payload}` : x.json !== undefined ? JSON.stringify(x.json, null, 2) : x.payload));
  }
  function renderList() {
    const q = search.value.toLowerCase();
    const shown = state.messages.filter(x => !q || x.topic.toLowerCase().includes(q) || x.payload.toLowerCase().includes(q));
    list.replaceChildren(...shown.slice(0, 300).map(msgEl));
    count.textContent = `${shown.length} message${shown.length === 1 ? '' : 's'}${state.dropped ? `, ${state.dropped} dropped by a slow stream` : ''}`;
  }
  function renderChart() {
    const keys = [...state.series.keys()].sort();
    if (keys.join('\n') !== [...fieldSel.options].map(o => o.value).filter(Boolean).join('\n')) {
      fieldSel.replaceChildren(h('option', { value: '' }, keys.length ? 'Choose a numeric field' : 'No numeric fields yet'),
        ...keys.map(k => h('option', { value: k, selected: k === state.chartField }, k)));
    }
    if (!state.chartField && keys.length) { state.chartField = keys[0]; fieldSel.value = keys[0]; }
    ch.update(state.series.get(state.chartField) || []);
  }
  state.onchange = kind => {
    if (kind === 'subscribed') live.textContent = 'Live';
    else if (kind === 'error') live.textContent = 'Reconnecting…';
    renderList(); renderChart();
  };
  fieldSel.addEventListener('change', () => { state.chartField = fieldSel.value; renderChart(); });
  search.addEventListener('input', renderList);
  pause.addEventListener('click', () => {
    state.paused = !state.paused;
    pause.textContent = state.paused ? 'Resume' : 'Pause';
    pause.setAttribute('aria-pressed', String(state.paused));
  });

  const subErr = h('p', { class: 'error', role: 'alert' });
  const subForm = h('form', {
    onsubmit: async ev => {
      ev.preventDefault();
      const f = filterIn.value.trim();
      subErr.textContent = '';
      if (!f || state.filters.includes(f)) return;
      if (state.filters.length >= 8) { subErr.textContent = 'At most 8 subscriptions.'; return; }
      state.filters.push(f);
      live.textContent = 'Connecting…';
      connect(); renderChips(); filterIn.value = '';
    },
  }, h('div', { class: 'row' }, h('div', { class: 'grow' }, field('Topic filter', filterIn, 'Wildcards + and # work; $aws/... topics too (a # alone does not match them, as in MQTT).')),
    h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Subscribe'))), subErr);

  // Publish.
  const pTopic = h('input', { type: 'text', id: 'pub-topic', spellcheck: 'false', placeholder: 'things/my-device/commands' });
  const pQoS = h('select', { id: 'pub-qos' }, h('option', { value: '0' }, '0'), h('option', { value: '1' }, '1'));
  const pRetain = h('input', { type: 'checkbox', id: 'pub-retain' });
  const pPayload = h('textarea', { id: 'pub-payload', rows: 5, spellcheck: 'false' }, '{\n  "message": "hello from the console"\n}');
  const pProps = h('input', { type: 'text', id: 'pub-props', placeholder: 'key=value, key2=value2' });
  const pErr = h('p', { class: 'error', role: 'alert' });
  const pubForm = h('form', {
    onsubmit: async ev => {
      ev.preventDefault();
      pErr.textContent = '';
      const userProperties = pProps.value.split(',').map(s => s.trim()).filter(Boolean).map(kv => {
        const i = kv.indexOf('=');
        return i < 0 ? { key: kv, value: '' } : { key: kv.slice(0, i).trim(), value: kv.slice(i + 1).trim() };
      });
      try {
        await api('POST', 'publish', { topic: pTopic.value.trim(), qos: Number(pQoS.value), retain: pRetain.checked, payload: pPayload.value, userProperties });
        toast(`Published to ${pTopic.value.trim()}`);
      } catch (e) { pErr.textContent = e.message; }
    },
  },
  h('h2', {}, 'Publish'),
  field('Topic', pTopic),
  h('div', { class: 'row' }, h('div', {}, field('QoS', pQoS)), h('div', { class: 'field' }, h('label', {}, pRetain, ' Retain'))),
  field('Payload', pPayload),
  field('User properties (MQTT 5)', pProps),
  pErr,
  h('button', { type: 'submit' }, 'Publish'));

  const exportBtn = h('button', {
    type: 'button', class: 'secondary', onclick: () => {
      const blob = new Blob([JSON.stringify(state.messages.map(({ json, ...x }) => x), null, 2)], { type: 'application/json' });
      const a = h('a', { href: URL.createObjectURL(blob), download: 'mqtt-messages.json' });
      document.body.append(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 1000);
    },
  }, 'Export');
  const clearBtn = h('button', { type: 'button', class: 'secondary', onclick: () => { state.messages = []; state.series.clear(); state.chartField = ''; renderList(); renderChart(); } }, 'Clear');

  m.append(
    h('h1', {}, 'MQTT test client'),
    h('p', { class: 'hint' }, 'The console subscribes and publishes as the hub itself (an admin), so device policies do not limit it.'),
    h('div', { class: 'cols' },
      h('div', { class: 'panel' }, h('h2', {}, 'Subscribe'), subForm, chips, live),
      h('div', { class: 'panel' }, pubForm)),
    h('div', { class: 'panel' }, h('h2', {}, 'Chart'), field('Numeric field', fieldSel), ch.el),
    h('div', { class: 'panel' },
      h('div', { class: 'row' }, h('h2', { class: 'grow' }, 'Messages'), pause, clearBtn, exportBtn),
      field('Filter messages', search), count, list));
  renderChips(); renderList(); renderChart();
  if (state.es) live.textContent = 'Live';
  filterIn.focus();
  return () => { state.onchange = null; };
}
