// shadow_sdkv2.mjs drives the AWS IoT Device SDK v2 for JavaScript's shadow
// client (iotshadow.IotShadowClientv2, the request-response client built on an
// MQTT 5 client or an MQTT 3.1.1 connection) against thingcore's Device
// Shadow service, for hub_shadow_sdkv2_test.go.
//
// Usage: node shadow_sdkv2.mjs '<scenario JSON>'
//
// Scenario: {"protocol": "5" | "311", "host": "localhost", "port": 8883,
//            "cert": path, "key": path, "ca": path, "clientId": "id",
//            "thing": "name", "shadowName": "named shadow", "timeoutMs": 30000}
//
// It runs one fixed sequence on the thing's classic shadow and on one named
// shadow, and prints one JSON object with what the SDK returned at each step
// (keys below); a step the service rejected records the ServiceError as
// {"error": {"description", "modeledError", "internalError"}}. Any other
// failure or the timeout prints a message to stderr and exits 1.
import { readScenario, portOf } from './scenario.mjs';
import sdk from 'aws-iot-device-sdk-v2';
import crt from 'aws-crt';

const { iot, mqtt, mqtt5, iotshadow, mqtt_request_response: rr } = sdk;
const { SubscriptionStatusEventType } = crt.mqtt_request_response;

const { sc, fail } = readScenario('shadow_sdkv2', ['protocol', 'host', 'port', 'cert', 'key', 'ca', 'clientId', 'thing', 'shadowName']);
const port = portOf(sc, fail);
const timeoutMs = sc.timeoutMs ?? 30000;
let stepName = 'connect';
const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms in step ${stepName}`), timeoutMs);

// rrOptions are the request-response client's limits: the SDK's samples use
// these values.
const rrOptions = { maxRequestResponseSubscriptions: 4, maxStreamingSubscriptions: 4, operationTimeoutInSeconds: 10 };

// settle runs a request and records its response or its ServiceError.
async function settle(name, promise) {
	stepName = name;
	try {
		return await promise;
	} catch (e) {
		if (!(e instanceof rr.ServiceError)) throw e;
		return {
			error: {
				description: e.message,
				modeledError: e.modeledError ?? null,
				internalError: e.internalError ? String(e.internalError) : null,
			},
		};
	}
}

// stream opens a streaming operation and resolves once its subscription is
// established; events collects its messages and next() waits for the next one.
async function stream(op) {
	const events = [];
	const waiters = [];
	op.on('incomingPublish', (ev) => {
		events.push(ev.message);
		waiters.splice(0).forEach((w) => w());
	});
	op.on('incomingPublishError', (ev) => fail(`stream could not decode a message: ${ev.error}`));
	const established = new Promise((resolve, reject) => {
		op.on('subscriptionStatus', (ev) => {
			if (ev.type === SubscriptionStatusEventType.SubscriptionEstablished) resolve();
			else reject(new Error(`stream subscription status ${ev.type}: ${ev.error}`));
		});
	});
	op.open();
	await established;
	return {
		op,
		events,
		// next waits until the stream holds more than n events.
		async next(n) {
			while (events.length <= n) await new Promise((resolve) => waiters.push(resolve));
			return events[n];
		},
	};
}

async function scenario(client) {
	const thingName = sc.thing;
	const shadowName = sc.shadowName;
	const out = {};

	out.getMissing = await settle('getMissing', client.getShadow({ thingName }));

	stepName = 'open streams';
	const delta = await stream(client.createShadowDeltaUpdatedStream({ thingName }));
	const updated = await stream(client.createShadowUpdatedStream({ thingName }));

	out.updateDesired = await settle('updateDesired',
		client.updateShadow({ thingName, state: { desired: { color: 'red', power: 'on' } } }));
	stepName = 'delta after updateDesired';
	out.delta1 = await delta.next(0);

	out.updateReported = await settle('updateReported',
		client.updateShadow({ thingName, state: { reported: { color: 'green', power: 'on' } } }));
	stepName = 'delta after updateReported';
	out.delta2 = await delta.next(1);

	out.updateInSync = await settle('updateInSync',
		client.updateShadow({ thingName, state: { reported: { color: 'red' } } }));
	out.get = await settle('get', client.getShadow({ thingName }));

	// The shadow is at version 3: an update that says version 1 conflicts.
	out.conflict = await settle('conflict',
		client.updateShadow({ thingName, state: { reported: { color: 'blue' } }, version: 1 }));
	out.versionedUpdate = await settle('versionedUpdate',
		client.updateShadow({ thingName, state: { reported: { color: 'blue' } }, version: 3 }));

	stepName = 'documents stream';
	await updated.next(3);
	out.documents = updated.events.slice();
	// Deltas are published for every update that leaves a delta: the in-sync
	// report left none, and the blue report made color differ again.
	stepName = 'delta after versionedUpdate';
	out.delta3 = await delta.next(2);

	// A named shadow, with its own delta stream.
	stepName = 'open named stream';
	const namedDelta = await stream(client.createNamedShadowDeltaUpdatedStream({ thingName, shadowName }));
	out.namedGetMissing = await settle('namedGetMissing', client.getNamedShadow({ thingName, shadowName }));
	out.namedUpdate = await settle('namedUpdate',
		client.updateNamedShadow({ thingName, shadowName, state: { desired: { mode: 'eco' }, reported: { mode: 'boost' } } }));
	stepName = 'named delta';
	out.namedDelta = await namedDelta.next(0);
	out.namedGet = await settle('namedGet', client.getNamedShadow({ thingName, shadowName }));
	out.namedConflict = await settle('namedConflict',
		client.updateNamedShadow({ thingName, shadowName, state: { reported: { mode: 'eco' } }, version: 7 }));
	out.namedDelete = await settle('namedDelete', client.deleteNamedShadow({ thingName, shadowName }));
	out.namedGetDeleted = await settle('namedGetDeleted', client.getNamedShadow({ thingName, shadowName }));

	out.delete = await settle('delete', client.deleteShadow({ thingName }));
	out.getDeleted = await settle('getDeleted', client.getShadow({ thingName }));
	out.deleteDeleted = await settle('deleteDeleted', client.deleteShadow({ thingName }));
	// Recreated after a delete, versions continue (AWS: within 48 hours).
	out.recreate = await settle('recreate',
		client.updateShadow({ thingName, state: { reported: { color: 'red' } } }));

	// Events that arrived for the classic shadow after the ones waited for
	// (none is expected).
	out.deltaCount = delta.events.length;
	out.namedDeltaCount = namedDelta.events.length;

	delta.op.close();
	updated.op.close();
	namedDelta.op.close();
	return out;
}

function done(result) {
	clearTimeout(timer);
	process.stdout.write(JSON.stringify(result) + '\n');
	// aws-crt's native threads must not keep node alive: exit explicitly.
	process.exit(0);
}

async function runMQTT5() {
	const builder = iot.AwsIotMqtt5ClientConfigBuilder.newDirectMqttBuilderWithMtlsFromPath(sc.host, sc.cert, sc.key);
	builder.withPort(port);
	builder.withCertificateAuthorityFromPath(undefined, sc.ca);
	builder.withConnectProperties({ clientId: sc.clientId, keepAliveIntervalSeconds: 60 });
	builder.withSessionBehavior(mqtt5.ClientSessionBehavior.Clean);
	const client = new mqtt5.Mqtt5Client(builder.build());
	client.on('error', (e) => fail(`client error: ${e}`));
	client.on('connectionFailure', (e) => fail(`connection failure: ${e.error}`));
	const connected = new Promise((resolve) => client.once('connectionSuccess', resolve));
	const stopped = new Promise((resolve) => client.once('stopped', resolve));
	client.start();
	await connected;
	const shadow = iotshadow.IotShadowClientv2.newFromMqtt5(client, rrOptions);
	const out = await scenario(shadow);
	stepName = 'close';
	shadow.close();
	client.stop();
	await stopped;
	client.close();
	done(out);
}

async function runMQTT311() {
	const builder = iot.AwsIotMqttConnectionConfigBuilder.new_mtls_builder_from_path(sc.cert, sc.key);
	builder.with_endpoint(sc.host);
	builder.with_port(port);
	builder.with_certificate_authority_from_path(undefined, sc.ca);
	builder.with_client_id(sc.clientId);
	builder.with_clean_session(true);
	builder.with_keep_alive_seconds(60);
	const conn = new mqtt.MqttClient().new_connection(builder.build());
	conn.on('error', (e) => fail(`connection error: ${e}`));
	await conn.connect();
	const shadow = iotshadow.IotShadowClientv2.newFromMqtt311(conn, rrOptions);
	const out = await scenario(shadow);
	stepName = 'close';
	shadow.close();
	await conn.disconnect();
	done(out);
}

const run = sc.protocol === '5' ? runMQTT5 : sc.protocol === '311' ? runMQTT311 : null;
if (!run) fail(`unknown protocol ${sc.protocol}`);
run().catch((e) => fail(`step ${stepName}: ${e?.stack ?? String(e)}`));
