// Things: the list, the create wizard, a thing's page and its shadow editor.
import { api, h, field, fmtTime, ago, badge, connectionBadge, pretty, toast, BASE } from './lib.js';

export async function list(m) {
  document.title = 'Things · thingcore';
  const q = h('input', { type: 'search', id: 'thing-search', placeholder: 'name or attribute' });
  const body = h('tbody');
  const count = h('p', { class: 'hint', 'aria-live': 'polite' });
  async function load() {
    const r = await api('GET', 'things?q=' + encodeURIComponent(q.value.trim()));
    body.replaceChildren(...r.things.map(t => h('tr', {},
      h('td', {}, h('a', { href: '#/things/' + encodeURIComponent(t.name) }, t.name)),
      h('td', {}, connectionBadge(t.connection), t.connection.since ? h('div', { class: 'hint' }, ago(t.connection.since)) : null),
      h('td', { class: 'mono' }, Object.entries(t.attributes).map(([k, v]) => `${k}=${v}`).join(', ')),
      h('td', {}, t.typeName || ''),
    )));
    if (!r.things.length) body.append(h('tr', {}, h('td', { colspan: 4 }, q.value ? 'No thing matches.' : 'No things yet: create one.')));
    count.textContent = `${r.things.length} thing${r.things.length === 1 ? '' : 's'}${r.truncated ? ' (first 1000)' : ''}`;
  }
  let timer;
  q.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(load, 200); });
  m.append(
    h('div', { class: 'row' }, h('h1', { class: 'grow' }, 'Things'), h('a', { class: 'button', href: '#/things/new' }, 'Create thing')),
    h('div', { class: 'panel' },
      field('Search', q),
      count,
      h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Connection'), h('th', {}, 'Attributes'), h('th', {}, 'Type'))), body)));
  await load();
  const every = setInterval(() => load().catch(() => {}), 5000);
  return () => { clearInterval(every); clearTimeout(timer); };
}

// wizard: name -> key type -> download, in three steps.
export async function wizard(m) {
  document.title = 'Create thing · thingcore';
  const state = { step: 1, name: '', keyType: 'rsa', attrs: '', board: '', result: null };
  const steps = ['Name', 'Key type', 'Download'];
  const box = h('div', { class: 'panel' });
  m.append(h('h1', {}, 'Create a thing'), box);
  const meta = await api('GET', 'boards').catch(() => ({ boards: [] }));

  function stepList() {
    return h('ol', { class: 'steps', 'aria-label': 'Steps' }, steps.map((s, i) =>
      h('li', { 'aria-current': state.step === i + 1 ? 'step' : null }, `${i + 1}. ${s}`)));
  }
  function show() {
    box.replaceChildren(stepList());
    if (state.step === 1) stepName();
    else if (state.step === 2) stepKey();
    else stepDownload();
  }
  function stepName() {
    const name = h('input', { type: 'text', id: 'thing-name', value: state.name, required: true, pattern: '[a-zA-Z0-9:_\\-]{1,128}', spellcheck: 'false' });
    const attrs = h('input', { type: 'text', id: 'thing-attrs', value: state.attrs, placeholder: 'room=kitchen, floor=1' });
    const err = h('p', { class: 'error', role: 'alert' });
    box.append(h('form', {
      onsubmit: ev => {
        ev.preventDefault();
        if (!/^[a-zA-Z0-9:_-]{1,128}$/.test(name.value)) { err.textContent = 'Use 1 to 128 letters, digits, _, - or :'; return; }
        state.name = name.value; state.attrs = attrs.value; state.step = 2; show();
      },
    },
    field('Thing name', name, 'The device connects with this name as its MQTT client id. If the thing exists, it gets a new certificate.'),
    field('Attributes (optional)', attrs, 'Comma-separated key=value pairs, for a new thing.'),
    err,
    h('div', { class: 'row' }, h('a', { class: 'button secondary', href: '#/things' }, 'Cancel'), h('button', { type: 'submit' }, 'Next'))));
    name.focus();
  }
  function stepKey() {
    const radio = (value, label, hint) => h('div', { class: 'field' },
      h('label', {}, h('input', { type: 'radio', name: 'keytype', value, checked: state.keyType === value, onchange: () => { state.keyType = value; } }), ' ', label),
      h('div', { class: 'hint' }, hint));
    const board = h('select', { id: 'board' }, h('option', { value: '' }, 'No board project'),
      meta.boards.map(b => h('option', { value: b.name, selected: state.board === b.name }, b.summary)));
    const err = h('p', { class: 'error', role: 'alert' });
    const create = h('button', { type: 'submit' }, 'Create thing and certificate');
    box.append(h('form', {
      onsubmit: async ev => {
        ev.preventDefault();
        state.board = board.value;
        create.disabled = true; err.textContent = '';
        const attributes = {};
        for (const kv of state.attrs.split(',').map(s => s.trim()).filter(Boolean)) {
          const i = kv.indexOf('=');
          if (i < 1) { err.textContent = `Attribute "${kv}": want key=value`; create.disabled = false; return; }
          attributes[kv.slice(0, i).trim()] = kv.slice(i + 1).trim();
        }
        try {
          state.result = await api('POST', 'things', { name: state.name, keyType: state.keyType, attributes, board: state.board || undefined });
          state.step = 3; show();
        } catch (e) { err.textContent = e.message; create.disabled = false; }
      },
    },
    h('fieldset', {}, h('legend', {}, 'Key type of the device certificate'),
      radio('rsa', 'RSA 2048', 'As AWS IoT Core creates them; every MicroPython board and SDK can use it.'),
      radio('ec', 'EC P-256', 'Smaller and faster keys, for clients that support ECDSA.')),
    meta.boards.length ? field('Board project (optional)', board, 'Adds a ready MicroPython project (main.py filled in for this thing) to the ZIP.') : null,
    err,
    h('div', { class: 'row' }, h('button', { type: 'button', class: 'secondary', onclick: () => { state.step = 1; show(); } }, 'Back'), create)));
  }
  function stepDownload() {
    const r = state.result;
    const link = h('a', { class: 'button', href: r.download, download: r.fileName, id: 'download-zip' }, `Download ${r.fileName}`);
    link.addEventListener('click', () => {
      setTimeout(() => {
        link.replaceWith(h('span', { class: 'badge off' }, 'Downloaded: this link no longer works'));
      }, 500);
    });
    box.append(
      h('p', {}, r.thingCreated ? `Created thing ${r.thing}` : `Thing ${r.thing} existed; it has a new certificate`,
        ` with ACTIVE certificate `, h('code', {}, r.certificateId.slice(0, 12) + '…'), ` and policy ${r.policy}.`),
      h('div', { class: 'notice', role: 'note' },
        h('strong', {}, 'Download the files now. '),
        'The ZIP holds the device\'s private key, which the hub does not keep: this is the only time it can be downloaded. ',
        `The link works once, until ${new Date(r.expires).toLocaleTimeString()}.`),
      link,
      h('h2', {}, 'What is in the ZIP'),
      h('ul', {},
        h('li', {}, h('code', {}, 'certificate.pem.crt'), ', ', h('code', {}, 'private.pem.key'), ', ', h('code', {}, 'public.pem.key'), ': as AWS IoT Core names them'),
        h('li', {}, h('code', {}, 'root-CA.pem'), ': the hub\'s root CA, to verify the server'),
        h('li', {}, h('code', {}, 'certificate.crt.der'), ', ', h('code', {}, 'private.key.der'), ' and ', h('code', {}, 'cert/'), ': the DER pair for MicroPython'),
        h('li', {}, h('code', {}, 'device.json'), `: endpoint ${r.endpoint}:${r.port}, client id, shadow topics`),
        state.board ? h('li', {}, h('code', {}, 'main.py'), ', ', h('code', {}, 'README.md'), ': the MicroPython project for the board') : null),
      h('h2', {}, 'Try it'),
      h('p', {}, 'Unzip, then publish a reported temperature from inside the folder:'),
      h('pre', {}, `cd ${r.thing} && ${r.mosquittoPub}`),
      h('div', { class: 'row' },
        h('a', { class: 'button secondary', href: '#/things/' + encodeURIComponent(r.thing) }, 'Open the thing'),
        h('a', { class: 'button secondary', href: '#/mqtt' }, 'Open the MQTT test client')));
    link.focus();
  }
  show();
}

export async function detail(m, name) {
  document.title = `${name} · thingcore`;
  const t = await api('GET', 'things/' + encodeURIComponent(name));
  const certRows = t.certificates.map(c => {
    const act = (status, label, cls) => h('button', {
      type: 'button', class: cls, disabled: c.status === status,
      'aria-label': `${label} certificate ${c.id.slice(0, 12)}`,
      onclick: async () => {
        if (status === 'REVOKED' && !confirm('Revoke this certificate? A revoked certificate cannot be activated again.')) return;
        try { await api('POST', `certificates/${c.id}/status`, { status }); toast(`Certificate ${c.id.slice(0, 12)}… is ${status}`); rerender(); }
        catch (e) { toast(e.message); }
      },
    }, label);
    return h('tr', {},
      h('td', { class: 'mono', title: c.id }, c.id.slice(0, 16) + '…'),
      h('td', {}, badge(c.status === 'ACTIVE' ? 'ok' : 'bad', c.status)),
      h('td', {}, c.policies.map((p, i) => [i ? ', ' : '', h('a', { href: '#/policies/' + encodeURIComponent(p) }, p)])),
      h('td', {}, fmtTime(c.createdAt)),
      h('td', { class: 'row' }, act('ACTIVE', 'Activate', 'secondary'), act('INACTIVE', 'Deactivate', 'secondary'), act('REVOKED', 'Revoke', 'danger')));
  });
  async function rerender() { m.replaceChildren(); await detail(m, name); }
  const shadowList = h('ul');
  if (t.shadowsAvailable) {
    api('GET', `things/${encodeURIComponent(name)}/shadows`).then(r => {
      shadowList.replaceChildren(...r.names.map(n => h('li', {},
        h('a', { href: `#/things/${encodeURIComponent(name)}/shadow/${encodeURIComponent(n)}` }, n ? `Named shadow "${n}"` : 'Classic shadow'))));
    }).catch(e => shadowList.replaceChildren(h('li', { class: 'error' }, e.message)));
  } else {
    shadowList.append(h('li', { class: 'hint' }, 'The shadow service is not running in this hub.'));
  }
  const named = h('input', { type: 'text', id: 'named-shadow', placeholder: 'name' });
  m.append(
    h('p', {}, h('a', { href: '#/things' }, '← Things')),
    h('div', { class: 'row' }, h('h1', { class: 'grow' }, t.name), connectionBadge(t.connection)),
    h('div', { class: 'cols' },
      h('div', { class: 'panel' }, h('h2', {}, 'Details'),
        h('table', {}, h('tbody', {},
          h('tr', {}, h('th', {}, 'ARN'), h('td', { class: 'mono' }, t.arn)),
          h('tr', {}, h('th', {}, 'Type'), h('td', {}, t.typeName || '—')),
          h('tr', {}, h('th', {}, 'Version'), h('td', {}, t.version)),
          h('tr', {}, h('th', {}, 'Created'), h('td', {}, fmtTime(t.createdAt))),
          h('tr', {}, h('th', {}, 'Last connect or disconnect'), h('td', {}, t.connection.since ? `${fmtTime(t.connection.since)} ${t.connection.reason || ''}` : '—')),
          h('tr', {}, h('th', {}, 'Attributes'), h('td', { class: 'mono' }, Object.entries(t.attributes).map(([k, v]) => h('div', {}, `${k} = ${v}`))))))),
      h('div', { class: 'panel' }, h('h2', {}, 'Shadows'), shadowList,
        t.shadowsAvailable ? h('form', { class: 'row', onsubmit: ev => { ev.preventDefault(); if (named.value) location.hash = `#/things/${encodeURIComponent(name)}/shadow/${encodeURIComponent(named.value)}`; } },
          h('div', { class: 'grow' }, field('Open a named shadow', named)), h('button', { type: 'submit', class: 'secondary' }, 'Open')) : null)),
    h('div', { class: 'panel' }, h('h2', {}, 'Certificates'),
      h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Certificate'), h('th', {}, 'Status'), h('th', {}, 'Policies'), h('th', {}, 'Created'), h('th', {}, 'Actions'))),
        h('tbody', {}, certRows.length ? certRows : h('tr', {}, h('td', { colspan: 5 }, 'No certificate attached.'))))),
    h('div', { class: 'panel' }, h('h2', {}, 'Recent refusals'),
      t.refusals.length ? h('table', {}, h('tbody', {}, t.refusals.map(r => h('tr', {}, h('td', {}, fmtTime(r.time)), h('td', {}, r.kind), h('td', {}, r.reason)))))
        : h('p', { class: 'hint' }, 'None.')),
    h('div', { class: 'panel' }, h('h2', {}, 'Recent events'),
      t.events.length ? h('table', {}, h('tbody', {}, t.events.map(e => h('tr', {}, h('td', {}, fmtTime(e.timestamp)), h('td', {}, e.eventType),
        h('td', {}, e.disconnectReason || e.connectFailureReason || ''), h('td', { class: 'mono' }, e.ipAddress || '')))))
        : h('p', { class: 'hint' }, 'None since the hub started.')));
}

// shadowEditor shows a shadow live (desired, reported, delta, version,
// metadata) and edits desired.
export async function shadowEditor(m, thing, shadowName = '') {
  const label = shadowName ? `shadow "${shadowName}"` : 'classic shadow';
  document.title = `${thing} ${label} · thingcore`;
  const q = shadowName ? '?name=' + encodeURIComponent(shadowName) : '';
  const path = `things/${encodeURIComponent(thing)}/shadow${q}`;
  const version = h('span');
  const desired = h('pre', { id: 'shadow-desired' });
  const reported = h('pre', { id: 'shadow-reported' });
  const delta = h('pre', { id: 'shadow-delta' });
  const metadata = h('pre', { id: 'shadow-metadata' });
  const editor = h('textarea', { id: 'desired-editor', spellcheck: 'false', rows: 10 });
  const err = h('p', { class: 'error', role: 'alert', id: 'shadow-error' });
  const status = h('p', { class: 'hint', 'aria-live': 'polite' });
  let edited = false;
  editor.addEventListener('input', () => {
    edited = true;
    try { JSON.parse(editor.value); err.textContent = ''; } catch (e) { err.textContent = 'Not valid JSON: ' + e.message; }
  });
  function metaTimes(md) {
    // Flatten metadata timestamps into "path: time" lines.
    const out = [];
    const walk = (o, p) => {
      if (o && typeof o === 'object' && 'timestamp' in o && Object.keys(o).length === 1) out.push(`${p}: ${fmtTime(o.timestamp * 1000)}`);
      else if (o && typeof o === 'object') for (const [k, v] of Object.entries(o)) walk(v, p ? `${p}.${k}` : k);
    };
    walk(md, '');
    return out.join('\n');
  }
  async function load() {
    try {
      const doc = await api('GET', path);
      const st = doc.state || {};
      version.textContent = `version ${doc.version}, updated ${fmtTime((doc.timestamp || 0) * 1000)}`;
      desired.textContent = st.desired ? JSON.stringify(st.desired, null, 2) : '(none)';
      reported.textContent = st.reported ? JSON.stringify(st.reported, null, 2) : '(none)';
      delta.textContent = st.delta ? JSON.stringify(st.delta, null, 2) : '(no delta: reported matches desired)';
      metadata.textContent = metaTimes(doc.metadata || {}) || '(none)';
      if (!edited) editor.value = JSON.stringify(st.desired || {}, null, 2);
    } catch (e) {
      if (e.status === 404) {
        version.textContent = 'This shadow does not exist yet: saving desired creates it.';
        for (const p of [desired, reported, delta, metadata]) p.textContent = '(none)';
        if (!edited) editor.value = '{\n}';
      } else { err.textContent = e.message; }
    }
  }
  async function save(ev) {
    ev.preventDefault();
    let value;
    try { value = JSON.parse(editor.value); } catch (e) { err.textContent = 'Not valid JSON: ' + e.message; editor.focus(); return; }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) { err.textContent = 'desired must be a JSON object (or null to clear it)'; return; }
    try {
      await api('POST', path, { state: { desired: value } });
      edited = false; err.textContent = '';
      status.textContent = `Saved at ${new Date().toLocaleTimeString()}: the device gets the delta on its update/delta topic.`;
      await load();
    } catch (e) { err.textContent = e.message; }
  }
  async function del() {
    if (!confirm(`Delete the ${label} of ${thing}?`)) return;
    try { await api('DELETE', path); status.textContent = 'Deleted.'; edited = false; await load(); } catch (e) { err.textContent = e.message; }
  }
  m.append(
    h('p', {}, h('a', { href: '#/things/' + encodeURIComponent(thing) }, '← ' + thing)),
    h('h1', {}, `${thing}: ${label}`),
    h('p', { class: 'hint' }, version, ' · refreshes every 2 s'),
    h('div', { class: 'cols' },
      h('div', { class: 'panel' }, h('h2', {}, 'Desired'), desired, h('h2', {}, 'Delta'), delta),
      h('div', { class: 'panel' }, h('h2', {}, 'Reported'), reported, h('h2', {}, 'Metadata (last updated)'), metadata)),
    h('form', { class: 'panel', onsubmit: save },
      field('Edit desired (JSON)', editor, 'The hub merges this into desired and sends the difference from reported to the device as a delta. Set a key to null to remove it.'),
      err, status,
      h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Save desired'), h('button', { type: 'button', class: 'danger', onclick: del }, 'Delete shadow'))));
  await load();
  const every = setInterval(load, 2000);
  return () => clearInterval(every);
}
