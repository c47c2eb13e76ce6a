// Policies: list, versions, edit with validation messages that point at the
// statement, attach/detach, and the authorization test.
import { api, h, field, fmtTime, pretty, toast } from './lib.js';

export async function list(m) {
  document.title = 'Policies · thingcore';
  const r = await api('GET', 'policies');
  const name = h('input', { type: 'text', id: 'new-policy-name', spellcheck: 'false' });
  const doc = h('textarea', { id: 'new-policy-doc', spellcheck: 'false', rows: 12 },
    JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['iot:Connect'], Resource: ['arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}'] }] }, null, 2));
  const err = h('p', { class: 'error', role: 'alert' });
  m.append(
    h('h1', {}, 'Policies'),
    h('div', { class: 'panel' },
      h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Default version'), h('th', {}, 'Last modified'))),
        h('tbody', {}, r.policies.length ? r.policies.map(p => h('tr', {},
          h('td', {}, h('a', { href: '#/policies/' + encodeURIComponent(p.name) }, p.name)), h('td', {}, p.defaultVersionId), h('td', {}, fmtTime(p.lastModified))))
          : h('tr', {}, h('td', { colspan: 3 }, 'No policies yet. Creating a thing in the console creates the default thing policy.'))))),
    h('form', {
      class: 'panel', onsubmit: async ev => {
        ev.preventDefault(); err.textContent = '';
        try { await api('POST', 'policies', { name: name.value.trim(), document: doc.value }); location.hash = '#/policies/' + encodeURIComponent(name.value.trim()); }
        catch (e) { err.textContent = describe(e); }
      },
    }, h('h2', {}, 'Create a policy'), field('Name', name), field('Document', doc), err, h('button', { type: 'submit' }, 'Create policy')),
    authorizeForm());
}

// describe turns a validation error into words that point at the statement.
function describe(e) {
  const b = e.body || {};
  if (b.statement !== undefined) return `Statement ${b.statement}${b.field ? `, ${b.field}` : ''}: ${e.message}`;
  return e.message;
}

export async function detail(m, name) {
  document.title = `${name} · policies · thingcore`;
  const p = await api('GET', 'policies/' + encodeURIComponent(name));
  const def = p.versions.find(v => v.isDefault) || p.versions[0];
  const doc = h('textarea', { id: 'policy-doc', spellcheck: 'false', rows: 16 }, def ? pretty(def.document) : '');
  const setDefault = h('input', { type: 'checkbox', id: 'set-default', checked: true });
  const err = h('p', { class: 'error', role: 'alert', id: 'policy-error' });
  const target = h('input', { type: 'text', id: 'attach-target', spellcheck: 'false', placeholder: 'certificate id or ARN' });
  const aErr = h('p', { class: 'error', role: 'alert' });
  async function rerender() { m.replaceChildren(); await detail(m, name); }
  m.append(
    h('p', {}, h('a', { href: '#/policies' }, '← Policies')),
    h('h1', {}, p.name),
    h('p', { class: 'mono hint' }, p.arn),
    h('div', { class: 'cols' },
      h('div', { class: 'panel' }, h('h2', {}, 'Versions'),
        h('table', {}, h('tbody', {}, p.versions.map(v => h('tr', {},
          h('td', {}, `v${v.versionId}`, v.isDefault ? ' (default)' : ''), h('td', {}, fmtTime(v.created)),
          h('td', {}, h('button', { type: 'button', class: 'secondary', onclick: () => { doc.value = pretty(v.document); } }, 'Show'),
            v.isDefault ? null : h('button', {
              type: 'button', class: 'secondary', onclick: async () => {
                try { await api('POST', `policies/${encodeURIComponent(name)}/default`, { versionId: v.versionId }); rerender(); } catch (e) { toast(e.message); }
              },
            }, 'Make default'))))))),
      h('div', { class: 'panel' }, h('h2', {}, 'Attached to'),
        h('ul', {}, p.targets.length ? p.targets.map(t => h('li', { class: 'mono' }, t.replace(/^.*:cert\//, 'cert ').slice(0, 30) + '… ',
          h('button', {
            type: 'button', class: 'secondary', 'aria-label': `Detach from ${t}`, onclick: async () => {
              try { await api('POST', `policies/${encodeURIComponent(name)}/detach`, { target: t }); rerender(); } catch (e) { toast(e.message); }
            },
          }, 'Detach'))) : h('li', { class: 'hint' }, 'Nothing.')),
        h('form', {
          onsubmit: async ev => {
            ev.preventDefault(); aErr.textContent = '';
            try { await api('POST', `policies/${encodeURIComponent(name)}/attach`, { target: target.value }); rerender(); } catch (e) { aErr.textContent = e.message; }
          },
        }, field('Attach to a certificate', target), aErr, h('button', { type: 'submit' }, 'Attach')))),
    h('form', {
      class: 'panel', onsubmit: async ev => {
        ev.preventDefault(); err.textContent = '';
        try {
          JSON.parse(doc.value);
        } catch (e) { err.textContent = 'Not valid JSON: ' + e.message; return; }
        try {
          const r = await api('POST', `policies/${encodeURIComponent(name)}/versions`, { document: doc.value, setAsDefault: setDefault.checked });
          toast(`Created version ${r.versionId}`); rerender();
        } catch (e) { err.textContent = describe(e); }
      },
    }, h('h2', {}, 'Edit'), field('Policy document', doc, 'Saving creates a new version (AWS keeps at most five). A new default applies to connected devices at once.'),
    h('div', { class: 'field' }, h('label', {}, setDefault, ' Make the new version the default')), err, h('button', { type: 'submit' }, 'Save as new version')),
    authorizeForm());
}

// authorizeForm is the "test authorization" form.
function authorizeForm() {
  const cert = h('input', { type: 'text', id: 'auth-cert', spellcheck: 'false', placeholder: '64 hex digits or the ARN' });
  const client = h('input', { type: 'text', id: 'auth-client', spellcheck: 'false' });
  const action = h('select', { id: 'auth-action' }, ['iot:Connect', 'iot:Publish', 'iot:Subscribe', 'iot:Receive', 'iot:RetainPublish'].map(a => h('option', { value: a }, a)));
  const resource = h('input', { type: 'text', id: 'auth-resource', spellcheck: 'false', placeholder: 'client id, topic or topic filter' });
  const out = h('div', { 'aria-live': 'polite', id: 'auth-result' });
  return h('form', {
    class: 'panel', onsubmit: async ev => {
      ev.preventDefault();
      out.replaceChildren();
      try {
        const r = await api('POST', 'authorize', { certificateId: cert.value.trim(), clientId: client.value, action: action.value, resource: resource.value || client.value });
        out.append(
          h('p', { class: 'decision ' + (r.allowed ? 'allowed' : 'denied') }, r.allowed ? 'Allowed' : 'Denied'),
          h('p', {}, r.reason),
          h('p', { class: 'hint mono' }, r.resourceArn),
          r.statementDocument ? [h('p', {}, `Policy ${r.policy}, statement ${r.statement}${r.sid ? ` (${r.sid})` : ''}:`), h('pre', {}, JSON.stringify(r.statementDocument, null, 2))] : null,
          h('p', { class: 'hint' }, `Policies attached to the certificate: ${r.policies.join(', ') || 'none'}`),
          r.note ? h('p', { class: 'notice' }, r.note) : null);
      } catch (e) { out.append(h('p', { class: 'error' }, e.message)); }
    },
  }, h('h2', {}, 'Test authorization'),
  h('p', { class: 'hint' }, 'Evaluates the certificate\'s policies as the hub does for a device, with the policy variables of a connection with this client id.'),
  h('div', { class: 'cols' }, field('Certificate', cert), field('Client id', client), field('Action', action), field('Resource', resource, 'For iot:Connect the client id; for publish and receive a topic; for subscribe a topic filter.')),
  h('button', { type: 'submit' }, 'Test'), out);
}
