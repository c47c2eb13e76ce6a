// sdkv2.mjs drives the AWS IoT Device SDK v2 for JavaScript (aws-crt) against
// a thingcore broker's mTLS listener for the Go interop tests.
//
// Usage: node sdkv2.mjs '<scenario JSON>'   (or the JSON on stdin)
//
// Scenario: {"protocol": "5" | "311", "host": "localhost", "port": 8883,
//            "cert": path, "key": path, "ca": path, "clientId": "id",
//            "topic": "t", "payload": "text", "timeoutMs": 15000}
//
// The script connects, subscribes to topic at QoS 1, publishes payload at QoS 1
// to topic, waits for it to come back, disconnects and prints one JSON line:
// {"connected": true, "subscribed": [qos...], "puback": code, "received": [{"topic", "payload", "qos"}]}.
// Any failure or timeout prints a message to stderr and exits 1.
import { readScenario, portOf } from './scenario.mjs';
import sdk from 'aws-iot-device-sdk-v2';

const { iot, mqtt, mqtt5 } = sdk;

const { sc, fail } = readScenario('sdkv2', ['protocol', 'host', 'port', 'cert', 'key', 'ca', 'clientId', 'topic', 'payload']);
const port = portOf(sc, fail);
const timer = setTimeout(() => fail(`timed out after ${sc.timeoutMs ?? 15000} ms`), sc.timeoutMs ?? 15000);

function done(result) {
	clearTimeout(timer);
	process.stdout.write(JSON.stringify(result) + '\n');
	// aws-crt's native event loop threads do not keep node alive forever, but
	// exit explicitly so a lingering handle cannot hang the test.
	process.exit(0);
}

const decode = (p) => (p === undefined ? '' : Buffer.from(p).toString('utf8'));

async function runMQTT5() {
	const builder = iot.AwsIotMqtt5ClientConfigBuilder.newDirectMqttBuilderWithMtlsFromPath(sc.host, sc.cert, sc.key);
	builder.withPort(port);
	builder.withCertificateAuthorityFromPath(undefined, sc.ca);
	builder.withConnectProperties({ clientId: sc.clientId, keepAliveIntervalSeconds: 60 });
	builder.withSessionBehavior(mqtt5.ClientSessionBehavior.Clean);
	const client = new mqtt5.Mqtt5Client(builder.build());

	const received = [];
	let gotMessage;
	const messageArrived = new Promise((resolve) => (gotMessage = resolve));
	client.on('error', (e) => fail(`client error: ${e}`));
	client.on('connectionFailure', (e) => fail(`connection failure: ${e.error}`));
	client.on('messageReceived', (ev) => {
		const m = ev.message;
		received.push({ topic: m.topicName, payload: decode(m.payload), qos: m.qos });
		gotMessage();
	});
	const connected = new Promise((resolve) => client.once('connectionSuccess', resolve));
	const stopped = new Promise((resolve) => client.once('stopped', resolve));
	client.start();
	await connected;

	const suback = await client.subscribe({ subscriptions: [{ topicFilter: sc.topic, qos: mqtt5.QoS.AtLeastOnce }] });
	const codes = suback.reasonCodes;
	if (codes.some((c) => c >= 0x80)) fail(`SUBACK refused: ${JSON.stringify(codes)}`);
	const res = await client.publish({ topicName: sc.topic, payload: sc.payload, qos: mqtt5.QoS.AtLeastOnce });
	const puback = res?.reasonCode ?? -1;
	await messageArrived;
	// Optionally, a topic the device's policy forbids: record the PUBACK.
	let forbiddenPuback;
	if (sc.forbiddenTopic) {
		try {
			const r = await client.publish({ topicName: sc.forbiddenTopic, payload: sc.payload, qos: mqtt5.QoS.AtLeastOnce });
			forbiddenPuback = r?.reasonCode ?? -1;
		} catch (e) {
			forbiddenPuback = `error: ${e}`;
		}
	}
	client.stop();
	await stopped;
	client.close();
	done({ connected: true, subscribed: codes, puback, received, forbiddenPuback });
}

async function runMQTT311() {
	const builder = iot.AwsIotMqttConnectionConfigBuilder.new_mtls_builder_from_path(sc.cert, sc.key);
	builder.with_endpoint(sc.host);
	builder.with_port(port);
	builder.with_certificate_authority_from_path(undefined, sc.ca);
	builder.with_client_id(sc.clientId);
	builder.with_clean_session(true);
	builder.with_keep_alive_seconds(60);
	const client = new mqtt.MqttClient();
	const conn = client.new_connection(builder.build());
	conn.on('error', (e) => fail(`connection error: ${e}`));

	const received = [];
	let gotMessage;
	const messageArrived = new Promise((resolve) => (gotMessage = resolve));
	await conn.connect();
	const sub = await conn.subscribe(sc.topic, mqtt.QoS.AtLeastOnce, (topic, payload, dup, qos) => {
		received.push({ topic, payload: decode(payload), qos });
		gotMessage();
	});
	if (sub.error_code || sub.qos === 128) fail(`SUBACK refused: ${JSON.stringify(sub)}`);
	await conn.publish(sc.topic, sc.payload, mqtt.QoS.AtLeastOnce);
	await messageArrived;
	await conn.disconnect();
	done({ connected: true, subscribed: [sub.qos], puback: 0, received });
}

const run = sc.protocol === '5' ? runMQTT5 : sc.protocol === '311' ? runMQTT311 : null;
if (!run) fail(`unknown protocol ${sc.protocol}`);
run().catch((e) => fail(e?.stack ?? String(e)));
