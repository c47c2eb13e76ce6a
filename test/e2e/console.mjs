// console.mjs drives thingcore's web console in Debian's chromium with
// Playwright, through the flow of issue 6: sign in; create a thing with the
// wizard and download the ZIP; subscribe in the MQTT test client; publish
// with mosquitto_pub using the downloaded files and see the message within
// 2 s; set desired in the shadow editor and receive the delta with
// mosquitto_sub; deactivate the certificate and find the refusal reason in
// the connection log. It writes a screenshot of each page to outDir.
//
// Usage: node console.mjs '{"url":..., "accessKeyId":..., ...}' (see
// console_test.go). It prints one JSON line with the results and exits 0,
// or prints the error and exits 1.
import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const cfg = JSON.parse(process.argv[2]);
const thing = cfg.thing;
const shots = [];
const steps = {};

function log(...a) { process.stderr.write(a.join(' ') + '\n'); }

// run runs a command to completion and returns {code, out}.
function run(cmd, args, cwd, timeoutMs = 20000) {
  return new Promise(resolve => {
    const p = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', d => { out += d; });
    p.stderr.on('data', d => { out += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', code => { clearTimeout(timer); resolve({ code, out }); });
  });
}

function deviceArgs(dir) {
  return ['-h', cfg.mqttHost, '-p', String(cfg.mqttPort), '--cafile', 'root-CA.pem', '--cert', 'certificate.pem.crt',
    '--key', 'private.pem.key', '-i', thing];
}

async function shot(page, name) {
  const path = join(cfg.outDir, name + '.png');
  await page.screenshot({ path, fullPage: true });
  shots.push(path);
}

async function main() {
  mkdirSync(cfg.outDir, { recursive: true });
  mkdirSync(cfg.workDir, { recursive: true });
  const browser = await chromium.launch({
    executablePath: cfg.chromium, headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true, viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const consoleErrors = [];
  page.on('console', m => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', e => consoleErrors.push(String(e)));
  page.setDefaultTimeout(15000);
  try {
    // 1. Sign in.
    await page.goto(cfg.url + '/console/');
    await page.getByLabel('Access key ID', { exact: true }).waitFor();
    await shot(page, '01-sign-in');
    await page.getByLabel('Access key ID', { exact: true }).fill(cfg.accessKeyId);
    await page.getByLabel('Secret access key', { exact: true }).fill(cfg.secretAccessKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Things' }).waitFor();
    steps.signedIn = true;

    // 2. Create a thing with the wizard and download the ZIP.
    await page.getByRole('link', { name: 'Create thing', exact: true }).click();
    await page.getByLabel('Thing name', { exact: true }).fill(thing);
    await page.getByLabel('Attributes (optional)', { exact: true }).fill('room=lab, floor=2');
    await shot(page, '02-wizard-name');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByLabel('RSA 2048', { exact: true }).check();
    await shot(page, '03-wizard-key-type');
    await page.getByRole('button', { name: 'Create thing and certificate' }).click();
    const link = page.locator('#download-zip');
    await link.waitFor();
    await shot(page, '04-wizard-download');
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    const zipPath = join(cfg.workDir, download.suggestedFilename());
    await download.saveAs(zipPath);
    execFileSync('python3', ['-m', 'zipfile', '-e', zipPath, cfg.workDir]);
    const dir = join(cfg.workDir, thing);
    const device = JSON.parse(readFileSync(join(dir, 'device.json'), 'utf8'));
    steps.zip = download.suggestedFilename();
    steps.certificateId = device.certificate_id;

    // 3. The MQTT test client subscribes to $aws/things/+/shadow/update.
    await page.getByRole('link', { name: 'MQTT test client', exact: true }).click();
    await page.getByLabel('Topic filter', { exact: true }).fill('$aws/things/+/shadow/update');
    await page.getByRole('button', { name: 'Subscribe', exact: true }).click();
    await page.locator('#stream-state', { hasText: 'Live' }).waitFor();

    // 4. mosquitto_pub with the downloaded files; the message shows within 2 s.
    const topic = `$aws/things/${thing}/shadow/update`;
    const t0 = Date.now();
    const pub = await run('mosquitto_pub', [...deviceArgs(dir), '-t', topic, '-m', '{"state":{"reported":{"temperature":22}}}'], dir);
    if (pub.code !== 0) throw new Error(`mosquitto_pub with the downloaded files: exit ${pub.code}: ${pub.out}`);
    await page.locator('#messages .msg .topic', { hasText: topic }).first().waitFor({ timeout: 2000 });
    steps.messageLatencyMs = Date.now() - t0;
    if (steps.messageLatencyMs > 2000) throw new Error(`message shown after ${steps.messageLatencyMs} ms, want within 2 s`);
    for (const v of [23.5, 22.8, 24.1]) {
      const r = await run('mosquitto_pub', [...deviceArgs(dir), '-t', topic, '-m', JSON.stringify({ state: { reported: { temperature: v } } })], dir);
      if (r.code !== 0) throw new Error(`mosquitto_pub: ${r.out}`);
    }
    await page.locator('#messages .msg').nth(3).waitFor();
    await page.getByLabel('Numeric field', { exact: true }).selectOption({ label: `${topic} state.reported.temperature` });
    await shot(page, '05-mqtt-test-client');

    // 5. The shadow editor sets desired; a subscriber on the delta topic gets it.
    await page.goto(`${cfg.url}/console/#/things/${thing}/shadow/`);
    await page.getByLabel('Edit desired (JSON)', { exact: true }).waitFor();
    await page.locator('#shadow-reported', { hasText: 'temperature' }).waitFor();
    // stdbuf: mosquitto_sub's output is line-buffered, so its SUBACK line
    // arrives before the delta does.
    const sub = spawn('stdbuf', ['-oL', 'mosquitto_sub', ...deviceArgs(dir), '-d', '-t', `$aws/things/${thing}/shadow/update/delta`, '-C', '1', '-W', '20'], { cwd: dir });
    let subOut = '';
    const subDone = new Promise(resolve => sub.on('close', code => resolve(code)));
    sub.stdout.on('data', d => { subOut += d; });
    sub.stderr.on('data', d => { subOut += d; });
    for (let i = 0; !subOut.includes('SUBACK'); i++) {
      if (i > 200) throw new Error('mosquitto_sub did not subscribe: ' + subOut);
      await new Promise(r => setTimeout(r, 50));
    }
    await page.getByLabel('Edit desired (JSON)', { exact: true }).fill('{\n  "temperature": 20,\n  "color": "green"\n}');
    await page.getByRole('button', { name: 'Save desired' }).click();
    const code = await subDone;
    if (code !== 0 || !subOut.includes('"color":"green"')) throw new Error(`delta subscriber: exit ${code}: ${subOut}`);
    steps.delta = subOut.split('\n').find(l => l.includes('"color"'));
    await page.locator('#shadow-delta', { hasText: 'color' }).waitFor();
    await shot(page, '06-shadow-editor');

    // 6. Deactivate the certificate; the next connect is refused and the
    // connection log says why.
    await page.goto(`${cfg.url}/console/#/things/${thing}`);
    await page.getByRole('heading', { name: 'Certificates' }).waitFor();
    await shot(page, '07-thing');
    await page.getByRole('button', { name: /^Deactivate certificate/ }).click();
    await page.locator('td .badge', { hasText: 'INACTIVE' }).waitFor();
    const refused = await run('mosquitto_pub', [...deviceArgs(dir), '-t', topic, '-m', '{}'], dir);
    if (refused.code === 0) throw new Error('mosquitto_pub with a deactivated certificate succeeded');
    await page.getByRole('link', { name: 'Diagnostics', exact: true }).click();
    await page.getByLabel('Filter', { exact: true }).fill(thing);
    const row = page.locator('#connection-log tr', { hasText: 'INACTIVE, not ACTIVE' }).first();
    await row.waitFor();
    steps.refusal = (await row.innerText()).replace(/\s+/g, ' ');
    await page.locator('#stat-connections').filter({ hasNotText: '–' }).waitFor();
    await shot(page, '08-diagnostics');

    // 7. Policies: the default thing policy and the authorization test.
    await page.getByRole('link', { name: 'Policies', exact: true }).click();
    await page.getByRole('link', { name: 'thingcore-default-thing-policy' }).click();
    await page.getByLabel('Policy document', { exact: true }).waitFor();
    await page.getByLabel('Certificate', { exact: true }).fill(device.certificate_id);
    await page.getByLabel('Client id', { exact: true }).fill(thing);
    await page.getByLabel('Action', { exact: true }).selectOption('iot:Publish');
    await page.getByLabel('Resource', { exact: true }).fill(`$aws/things/${thing}/shadow/update`);
    await page.getByRole('button', { name: 'Test', exact: true }).click();
    await page.locator('#auth-result .decision').waitFor();
    steps.authorization = (await page.locator('#auth-result').innerText()).split('\n')[0];
    await shot(page, '09-policy');

    // 8. The things list shows the thing with its state.
    await page.getByRole('link', { name: 'Things', exact: true }).click();
    await page.getByRole('link', { name: thing }).waitFor();
    await shot(page, '10-things');
    if (consoleErrors.length) throw new Error('browser console errors: ' + consoleErrors.join('; '));
    process.stdout.write(JSON.stringify({ ok: true, steps, screenshots: shots }) + '\n');
  } catch (e) {
    try { await shot(page, 'failure'); } catch { /* the page may be gone */ }
    log('e2e failed at', JSON.stringify(steps), ':', e.stack || e);
    if (consoleErrors.length) log('browser console errors:', consoleErrors.join('; '));
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

main();
