// scenario.mjs is what every interop script shares: it reads the scenario
// JSON the Go test passes (argv[2], or stdin), checks that it names the
// required keys, and gives the script a fail() that prints to stderr and
// exits 1.
import { readFileSync } from 'node:fs';

// readScenario returns {sc, fail} for the script called name; required
// lists the keys the scenario must have.
export function readScenario(name, required = []) {
	const fail = (msg) => {
		process.stderr.write(`${name}: ${msg}\n`);
		process.exit(1);
	};
	let sc;
	try {
		sc = JSON.parse(process.argv[2] ?? readFileSync(0, 'utf8'));
	} catch (e) {
		fail(`bad scenario: ${e.message}`);
	}
	for (const k of required) {
		if (sc[k] === undefined) fail(`scenario lacks ${k}`);
	}
	return { sc, fail };
}

// portOf returns sc.port as a number, failing when it is not a port.
export function portOf(sc, fail) {
	const port = Number(sc.port);
	if (!Number.isInteger(port) || port <= 0) fail(`port ${JSON.stringify(sc.port)} is not a port number`);
	return port;
}
