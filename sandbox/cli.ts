/**
 * `node build/sandbox/cli.js [--profile incident|outage|low-limit|retry-after-hour|no-rate-headers|broken-prompt]
 *   [--outage AFTER_S-DURATION_S] [--strict-models] [--port 8787] [--rpm N] [--tpm N] [--burst S] [--latency 50-300]
 *   [--faults status500=0.02,reset=0.01] [--seed N] [--api-keys k1,k2] [--quota-exhausted] [--hang-ms N]
 *   [--model-misses gpt-4o-mini=0.15]`
 * Starts the sandbox and keeps it up until SIGINT / SIGTERM.
 */
import { parseArgs } from 'node:util';

import { isProfileName } from './profiles';
import {
	FAULT_KINDS,
	PROFILE_DESCRIPTIONS,
	PROFILE_NAMES,
	startSandbox,
	type FaultKind,
	type SandboxOptions,
} from './server';

function num(name: string, v: string | undefined): number | undefined {
	if (v === undefined) return undefined;
	const n = Number(v);
	if (!Number.isFinite(n)) throw new Error(`Expected --${name} to be a number, got ${v}`);
	return n;
}

/** Command-line flags -> sandbox options (throws with a readable message on bad input). */
export function parseCliArgs(argv: string[]): SandboxOptions {
	const { values } = parseArgs({
		args: argv,
		strict: true,
		options: {
			port: { type: 'string' },
			host: { type: 'string' },
			rpm: { type: 'string' },
			tpm: { type: 'string' },
			burst: { type: 'string' },
			latency: { type: 'string' },
			faults: { type: 'string' },
			'model-misses': { type: 'string' },
			seed: { type: 'string' },
			'api-keys': { type: 'string' },
			'quota-exhausted': { type: 'boolean' },
			'hang-ms': { type: 'string' },
			profile: { type: 'string' },
			outage: { type: 'string' },
			'strict-models': { type: 'boolean' },
			'no-rate-headers': { type: 'boolean' },
		},
	});
	const o: SandboxOptions = {
		port: num('port', values.port) ?? 8787,
		host: values.host,
		rpm: num('rpm', values.rpm),
		tpm: num('tpm', values.tpm),
		burstSeconds: num('burst', values.burst),
		seed: num('seed', values.seed),
		hangMs: num('hang-ms', values['hang-ms']),
		quotaExhausted: values['quota-exhausted'],
		apiKeys: values['api-keys']?.split(',').filter(Boolean),
		strictModels: values['strict-models'],
		rateHeaders: values['no-rate-headers'] ? false : undefined,
	};
	if (values.profile !== undefined) {
		if (!isProfileName(values.profile))
			throw new Error(
				`Unknown --profile ${values.profile}; expected one of:\n${PROFILE_NAMES.map((p) => `  ${p}: ${PROFILE_DESCRIPTIONS[p]}`).join('\n')}`,
			);
		o.profile = values.profile;
	}
	if (values.outage !== undefined) {
		const m = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(values.outage);
		if (!m)
			throw new Error(
				`Expected --outage as AFTER-DURATION in seconds (e.g. 30-60), got ${values.outage}`,
			);
		o.outage = { afterMs: Number(m[1]) * 1000, durationMs: Number(m[2]) * 1000 };
	}
	if (values.latency !== undefined) {
		const m = /^(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?$/.exec(values.latency);
		if (!m)
			throw new Error(`Expected --latency as MIN-MAX in ms (e.g. 50-300), got ${values.latency}`);
		o.latencyMs = { min: Number(m[1]), max: Number(m[2] ?? m[1]) };
	}
	if (values.faults !== undefined) {
		const faults: Partial<Record<FaultKind, number>> = {};
		for (const pair of values.faults.split(',').filter(Boolean)) {
			const [k, v] = pair.split('=');
			if (!(FAULT_KINDS as readonly string[]).includes(k))
				throw new Error(`Unknown fault ${k}; expected one of ${FAULT_KINDS.join(', ')}`);
			faults[k as FaultKind] = num(`faults ${k}`, v);
		}
		o.faults = faults;
	}
	if (values['model-misses'] !== undefined) {
		const misses: Record<string, number> = {};
		for (const pair of values['model-misses'].split(',').filter(Boolean)) {
			const at = pair.lastIndexOf('=');
			misses[pair.slice(0, at)] = num(`model-misses ${pair.slice(0, at)}`, pair.slice(at + 1))!;
		}
		o.modelMisses = misses;
	}
	for (const k of Object.keys(o) as Array<keyof SandboxOptions>)
		if (o[k] === undefined) delete o[k];
	return o;
}

async function main(): Promise<void> {
	let options: SandboxOptions;
	try {
		options = parseCliArgs(process.argv.slice(2));
	} catch (e) {
		console.error((e as Error).message);
		process.exit(2);
	}
	const sb = await startSandbox(options);
	console.log(
		`LLM sandbox listening on ${sb.url} (OpenAI base URL ${sb.url}/v1, Anthropic base URL ${sb.url})`,
	);
	const stop = () => {
		void sb.close().then(() => process.exit(0));
	};
	process.once('SIGINT', stop);
	process.once('SIGTERM', stop);
}

if (require.main === module) {
	main().catch((e: unknown) => {
		console.error(e);
		process.exit(1);
	});
}
