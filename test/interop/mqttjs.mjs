// mqttjs.mjs drives mqtt.js (npm "mqtt" v5) against a thingcore broker for
// the Go interop tests.
//
// Usage: node mqttjs.mjs '<scenario JSON>'   (or the JSON on stdin)
//
// Scenario: {"scenario": "round-trip" | "properties" | "topic-alias" | "shared",
//            "url": "mqtts://localhost:8883" | "ws://127.0.0.1:80/mqtt" | "mqtt://...",
//            "protocolVersion": 4 | 5,
//            "tls": {"cert": path, "key": path, "ca": path},   (for mqtts only)
//            "prefix": "topic prefix", "timeoutMs": 15000}
//
// It prints one JSON line with the scenario's results (see each function) and
// exits 0, or prints a message to stderr and exits 1 on any failure or timeout.
import { readFileSync } from 'node:fs';
import { readScenario } from './scenario.mjs';
import mqtt from 'mqtt';

const { sc, fail } = readScenario('mqttjs', []);
const timeoutMs = sc.timeoutMs ?? 15000;
const timer = setTimeout(() => fail(`${sc.scenario}: timed out after ${timeoutMs} ms`), timeoutMs);
const prefix = sc.prefix ?? 'js';
const clients = [];

// connect opens a client and resolves with it and its CONNACK.
function connect(clientId, extra = {}) {
	const opts = {
		clientId,
		protocolVersion: sc.protocolVersion,
		clean: true,
		reconnectPeriod: 0,
		connectTimeout: 10000,
		keepalive: 60,
		...extra,
	};
	if (sc.tls) {
		opts.cert = readFileSync(sc.tls.cert);
		opts.key = readFileSync(sc.tls.key);
		opts.ca = readFileSync(sc.tls.ca);
		opts.rejectUnauthorized = true;
		opts.servername = 'localhost';
	}
	return new Promise((resolve, reject) => {
		const c = mqtt.connect(sc.url, opts);
		clients.push(c);
		c.once('connect', (connack) => resolve({ c, connack }));
		c.once('error', (e) => reject(new Error(`${clientId}: ${e.message}`)));
		c.on('close', () => {
			if (!c.disconnecting) fail(`${sc.scenario}: ${clientId}: connection closed by the broker`);
		});
	});
}

// collect resolves with n messages received by c, as [topic, payload, packet].
function collect(c, n) {
	const got = [];
	return new Promise((resolve) => {
		c.on('message', (topic, payload, packet) => {
			got.push({ topic, payload: payload.toString('utf8'), packet });
			if (got.length === n) resolve(got);
		});
	});
}

async function subscribe(c, filter, qos) {
	const granted = await c.subscribeAsync(filter, { qos });
	for (const g of granted) {
		if (g.qos >= 0x80) throw new Error(`SUBACK refused ${filter}: 0x${g.qos.toString(16)}`);
	}
	return granted.map((g) => g.qos);
}

// roundTrip: a subscriber at QoS 2 and a publisher sending one message at
// each QoS. Result: {granted: [qos], received: [{topic, payload, qos}]}.
async function roundTrip() {
	const { c: sub } = await connect(`${prefix}-rt-sub`);
	const { c: pub } = await connect(`${prefix}-rt-pub`);
	const granted = await subscribe(sub, `${prefix}/rt/#`, 2);
	const got = collect(sub, 3);
	for (const qos of [0, 1, 2]) {
		await pub.publishAsync(`${prefix}/rt/${qos}`, `m${qos}`, { qos });
	}
	const received = (await got).map((m) => ({ topic: m.topic, payload: m.payload, qos: m.packet.qos }));
	received.sort((a, b) => a.topic.localeCompare(b.topic));
	return { granted, received };
}

// properties (MQTT 5): a request with user properties, content type,
// payload format, response topic and correlation data; the responder replies
// on the response topic with the correlation data.
// Result: {request: {topic, payload, props}, reply: {topic, payload, props}}.
async function properties() {
	const { c: requester } = await connect(`${prefix}-req`);
	const { c: responder } = await connect(`${prefix}-resp`);
	await subscribe(responder, `${prefix}/req`, 1);
	await subscribe(requester, `${prefix}/reply`, 1);
	const gotReq = collect(responder, 1);
	const gotReply = collect(requester, 1);
	await requester.publishAsync(`${prefix}/req`, '{"ask":1}', {
		qos: 1,
		properties: {
			userProperties: { a: '1', b: ['x', 'y'] },
			contentType: 'application/json',
			payloadFormatIndicator: true,
			responseTopic: `${prefix}/reply`,
			correlationData: Buffer.from('corr-1'),
		},
	});
	const [req] = await gotReq;
	const p = req.packet.properties ?? {};
	if (!p.responseTopic) throw new Error(`request lacks a response topic: ${JSON.stringify(p)}`);
	await responder.publishAsync(p.responseTopic, 'answer', { qos: 1, properties: { correlationData: p.correlationData } });
	const [reply] = await gotReply;
	const norm = (m) => {
		const q = m.packet.properties ?? {};
		return {
			topic: m.topic,
			payload: m.payload,
			props: {
				userProperties: q.userProperties ?? null,
				contentType: q.contentType ?? null,
				payloadFormatIndicator: q.payloadFormatIndicator ?? null,
				responseTopic: q.responseTopic ?? null,
				correlationData: q.correlationData ? Buffer.from(q.correlationData).toString('utf8') : null,
			},
		};
	};
	return { request: norm(req), reply: norm(reply) };
}

// topicAlias (MQTT 5): publish once with topic + alias 1, then with the
// alias alone. Result: {topicAliasMaximum, received: [{topic, payload}]}.
async function topicAlias() {
	const { c: sub } = await connect(`${prefix}-alias-sub`);
	const { c: pub, connack } = await connect(`${prefix}-alias-pub`);
	await subscribe(sub, `${prefix}/alias/#`, 1);
	const got = collect(sub, 2);
	await pub.publishAsync(`${prefix}/alias/t`, 'first', { qos: 1, properties: { topicAlias: 1 } });
	await pub.publishAsync('', 'second', { qos: 1, properties: { topicAlias: 1 } });
	const received = (await got).map((m) => ({ topic: m.topic, payload: m.payload }));
	return { topicAliasMaximum: connack.properties?.topicAliasMaximum ?? null, received };
}

// shared: two clients in $share/g receive n messages between them.
// Result: {a: [payload], b: [payload]}.
async function shared() {
	const n = sc.count ?? 40;
	const { c: a } = await connect(`${prefix}-share-a`);
	const { c: b } = await connect(`${prefix}-share-b`);
	const { c: pub } = await connect(`${prefix}-share-pub`);
	const filter = `$share/g/${prefix}/shared/t`;
	await subscribe(a, filter, 1);
	await subscribe(b, filter, 1);
	const got = { a: [], b: [] };
	const all = new Promise((resolve) => {
		const on = (name) => (topic, payload) => {
			got[name].push(payload.toString('utf8'));
			if (got.a.length + got.b.length === n) resolve();
		};
		a.on('message', on('a'));
		b.on('message', on('b'));
	});
	for (let i = 0; i < n; i++) {
		await pub.publishAsync(`${prefix}/shared/t`, `n${i}`, { qos: 1 });
	}
	await all;
	return got;
}

const scenarios = { 'round-trip': roundTrip, properties, 'topic-alias': topicAlias, shared };
const fn = scenarios[sc.scenario];
if (!fn) fail(`unknown scenario ${sc.scenario}`);
try {
	const result = await fn();
	await Promise.all(clients.map((c) => c.endAsync()));
	clearTimeout(timer);
	process.stdout.write(JSON.stringify(result) + '\n');
} catch (e) {
	fail(`${sc.scenario}: ${e?.message ?? e}`);
}
