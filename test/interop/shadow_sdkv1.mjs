// shadow_sdkv1.mjs drives the aws-iot-device-sdk (v1) thingShadow class
// against thingcore's Device Shadow service, for hub_shadow_sdkv1_test.go.
//
// Usage: node shadow_sdkv1.mjs '<scenario JSON>'
//
// Scenario: {"host": "localhost", "port": 8883, "ca": path, "thing": "name",
//            "device": {"clientId", "cert", "key"},   // the thing itself
//            "app": {"clientId", "cert", "key"},      // another client allowed the thing's shadow
//            "timeoutMs": 30000}
//
// Two thingShadow clients register the same thing (the SDK subscribes to
// update/delta and {update,get,delete}/{accepted,rejected}) and run one
// fixed sequence; thingShadow sends the version it last saw with every
// update once it knows one. The script prints one JSON object with the
// 'status', 'delta' and 'foreignStateChange' events each step produced. Any
// other failure or the timeout prints a message to stderr and exits 1.
import { readScenario } from './scenario.mjs';
import awsIot from 'aws-iot-device-sdk';

const { sc, fail } = readScenario('shadow_sdkv1', ['host', 'port', 'ca', 'thing', 'device', 'app']);
const timeoutMs = sc.timeoutMs ?? 30000;
let stepName = 'connect';
const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms in step ${stepName}`), timeoutMs);
const thing = sc.thing;

// client wraps one thingShadow and records its events; waitFor polls the
// records until one matches.
function client(name, c) {
	const shadow = awsIot.thingShadow({
		host: sc.host, port: Number(sc.port), protocol: 'mqtts', caPath: sc.ca,
		clientId: c.clientId, certPath: c.cert, keyPath: c.key,
	});
	const events = [];
	const waiters = [];
	const record = (e) => {
		events.push(e);
		waiters.splice(0).forEach((w) => w());
	};
	shadow.on('error', (e) => fail(`${name}: error: ${e}`));
	shadow.on('offline', () => record({ event: 'offline' }));
	shadow.on('status', (thingName, stat, clientToken, stateObject) =>
		record({ event: 'status', thingName, stat, clientToken, doc: stateObject }));
	shadow.on('delta', (thingName, stateObject) => record({ event: 'delta', thingName, doc: stateObject }));
	shadow.on('foreignStateChange', (thingName, operation, stateObject) =>
		record({ event: 'foreignStateChange', thingName, operation, doc: stateObject }));
	shadow.on('timeout', (thingName, clientToken) => record({ event: 'timeout', thingName, clientToken }));
	return {
		shadow,
		events,
		connected: new Promise((resolve) => shadow.once('connect', resolve)),
		async waitFor(pred) {
			for (;;) {
				const e = events.find(pred);
				if (e) return e;
				await new Promise((resolve) => waiters.push(resolve));
			}
		},
		register() {
			return new Promise((resolve, reject) =>
				shadow.register(thing, {}, (err, failed) =>
					err || failed ? reject(new Error(`${name}: register: ${err} ${JSON.stringify(failed)}`)) : resolve()));
		},
		// status waits for the status event of an operation's clientToken.
		status(token) {
			if (token === null) throw new Error(`${name}: operation refused by thingShadow (one still pending?)`);
			return this.waitFor((e) => e.event === 'status' && e.clientToken === token);
		},
	};
}

const isVersion = (v) => (e) => e.doc?.version === v;

async function scenario() {
	const device = client('device', sc.device);
	const app = client('app', sc.app);
	await Promise.all([device.connected, app.connected]);
	stepName = 'register';
	await Promise.all([device.register(), app.register()]);
	const out = {};

	stepName = 'getMissing';
	out.getMissing = await device.status(device.shadow.get(thing));

	// The app sets desired; the device gets a delta (and sees the app's
	// update/accepted as a foreign state change, which tells it version 1).
	stepName = 'appDesired';
	out.appDesired = await app.status(app.shadow.update(thing, { state: { desired: { color: 'red', power: 'on' } } }));
	stepName = 'device delta';
	out.deviceDelta = await device.waitFor((e) => e.event === 'delta');
	out.deviceForeign = await device.waitFor((e) => e.event === 'foreignStateChange' && e.operation === 'update');

	// The device reports, sending version 1 (it knows it now).
	stepName = 'deviceReported';
	out.deviceReported = await device.status(device.shadow.update(thing, { state: { reported: { color: 'red', power: 'on' } } }));
	stepName = 'app sees report';
	await app.waitFor((e) => e.event === 'foreignStateChange' && isVersion(2)(e));

	stepName = 'get';
	out.get = await device.status(device.shadow.get(thing));

	// Both clients know version 2 and update in the same tick, so both send
	// version 2: one is accepted, the other gets 409 Version conflict.
	stepName = 'race';
	const appToken = app.shadow.update(thing, { state: { desired: { color: 'blue' } } });
	const deviceToken = device.shadow.update(thing, { state: { reported: { color: 'green' } } });
	const [appRace, deviceRace] = await Promise.all([app.status(appToken), device.status(deviceToken)]);
	out.race = { app: appRace, device: deviceRace };

	// The loser sees the winner's update/accepted (version 3), then retries
	// with that version and wins.
	stepName = 'retry';
	const loser = appRace.stat === 'rejected' ? app : deviceRace.stat === 'rejected' ? device : null;
	if (loser) {
		await loser.waitFor((e) => e.event === 'foreignStateChange' && isVersion(3)(e));
		const state = loser === app ? { desired: { color: 'blue' } } : { reported: { color: 'green' } };
		out.retry = await loser.status(loser.shadow.update(thing, { state }));
		stepName = 'other sees retry';
		const winner = loser === app ? device : app;
		await winner.waitFor((e) => e.event === 'foreignStateChange' && isVersion(4)(e));
	}

	stepName = 'delete';
	out.delete = await device.status(device.shadow.delete(thing));
	stepName = 'getDeleted';
	out.getDeleted = await device.status(device.shadow.get(thing));

	// Every update/delta each client saw, in order.
	out.deviceDeltas = device.events.filter((e) => e.event === 'delta').map((e) => e.doc);
	out.appDeltas = app.events.filter((e) => e.event === 'delta').map((e) => e.doc);
	out.timeouts = [...device.events, ...app.events].filter((e) => e.event === 'timeout' || e.event === 'offline');

	stepName = 'end';
	await Promise.all([device, app].map((c) => new Promise((resolve) => c.shadow.end(false, resolve))));
	return out;
}

scenario()
	.then((out) => {
		clearTimeout(timer);
		process.stdout.write(JSON.stringify(out) + '\n');
		process.exit(0);
	})
	.catch((e) => fail(`step ${stepName}: ${e?.stack ?? String(e)}`));
