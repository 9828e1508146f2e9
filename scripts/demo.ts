/**
 * `npm run demo`: the nightly ticket-classification example (examples/01) run end to end,
 * in-process on n8n-core's WorkflowExecute, against the built-in sandbox LLM server with
 * rate limits, latency and faults on — then the Batch Report it produced.
 * `npm run demo -- --profile incident` (or DEMO_PROFILE=incident) runs it under one of the
 * sandbox's named fault profiles instead (incident, outage, low-limit, retry-after-hour, ...).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { IDataObject, INode } from 'n8n-workflow';

import { isProfileName } from '../sandbox/profiles';
import { PROFILE_DESCRIPTIONS, PROFILE_NAMES, startSandbox } from '../sandbox/server';
import { runWorkflow, type WorkflowJson } from './lib/harness';
import { packageNodeTypes } from './lib/node-types';

const RECORDS = Number(process.env.DEMO_RECORDS ?? 600);
const RPM = 3000;

/** Tickets like the example's Code node makes, with a few bad rows to show Rejected. */
function tickets(n: number): IDataObject[] {
	const subjects = [
		'Invoice shows the wrong amount',
		'App crashes on login',
		'Please add dark mode',
		'Cannot reset my password',
		'Refund still pending',
	];
	const bodies = [
		'I was charged twice for the March invoice, please check order 4411.',
		'Since the last update the iOS app closes right after I enter my password.',
		'It would be great to have a dark theme for the dashboard at night.',
		'The reset link in the email says it expired, I tried three times today.',
		'I returned the item two weeks ago and have not received the refund yet.',
	];
	return Array.from({ length: n }, (_, i) => {
		const t: IDataObject = {
			ticketId: `T${String(i + 1).padStart(5, '0')}`,
			customerId: `C${i % 37}`,
			subject: subjects[i % 5],
			body: `${bodies[i % 5]} (ticket ${i + 1})`,
		};
		if (i % 50 === 7) delete t.subject; // missing field
		if (i % 50 === 19) t.body = 'help'; // too short
		if (i % 100 === 33) t.ticketId = 'T00001'; // duplicate ID
		if (i % 97 === 5) t.body += ' [[sandbox:contentPolicy]]'; // the model refuses this one
		if (i % 150 === 11) t.body += ' [[sandbox:fail-first:7:status503]]'; // outlasts both passes of in-call retries: Route Failures sends it round again
		if (i % 250 === 13) t.body += ' [[sandbox:status400]]'; // never fixable: Dead Letter
		return t;
	});
}

function count(
	node: string,
	outputs: string[],
	items: (n: string, o: number) => unknown[],
): string {
	return outputs.map((name, o) => `${name} ${items(node, o).length}`).join(' · ');
}

function profileArg(): string | undefined {
	const argv = process.argv.slice(2);
	const i = argv.indexOf('--profile');
	return (i >= 0 ? argv[i + 1] : undefined) ?? process.env.DEMO_PROFILE;
}

async function main(): Promise<void> {
	const profile = profileArg();
	if (profile !== undefined && !isProfileName(profile)) {
		throw new Error(`Unknown profile ${profile}; one of ${PROFILE_NAMES.join(', ')}`);
	}
	const sandbox = await startSandbox({
		rpm: RPM,
		latencyMs: { min: 20, max: 200 },
		...(profile
			? {
					profile,
					...(profile === 'outage' ? { outage: { afterMs: 5_000, durationMs: 15_000 } } : {}),
				}
			: {
					faults: {
						status500: 0.01,
						status503: 0.01,
						reset: 0.005,
						malformed: 0.005,
						truncated: 0.005,
					},
				}),
		seed: 42,
	});
	process.stdout.write(
		profile
			? `LLM sandbox on ${sandbox.url} (limit ${RPM} RPM, latency 20–200 ms, profile ${profile}: ${PROFILE_DESCRIPTIONS[profile]})\n`
			: `LLM sandbox on ${sandbox.url} (limit ${RPM} RPM, latency 20–200 ms, ~3.5 % faults)\n`,
	);
	const file = join(__dirname, '..', '..', 'examples', '01-nightly-ticket-classification.json');
	const wf = JSON.parse(readFileSync(file, 'utf8')) as WorkflowJson;
	// The example is set for a real account (500 RPM); the sandbox takes more.
	wf.nodes = wf.nodes.map((n: INode) =>
		n.type === 'n8n-nodes-llm-batch.llmBatchCall'
			? {
					...n,
					parameters: {
						...n.parameters,
						requestsPerMinute: RPM,
						tokensPerMinute: 10_000_000,
						concurrency: 16,
						options: { ...(n.parameters.options as IDataObject), progressIntervalSeconds: 2 },
					},
				}
			: n,
	);
	process.stdout.write(`Running examples/01 "${wf.name ?? ''}" over ${RECORDS} tickets…\n`);
	const started = Date.now();
	const all = tickets(RECORDS).map((json) => ({ json }));
	const r = await runWorkflow(wf, {
		nodeTypes: packageNodeTypes(),
		credentials: { llmBatchOpenAiApi: { apiKey: 'sandbox', baseUrl: `${sandbox.url}/v1` } },
		// The Code node "All tickets again" (after the sample gate) returns the same tickets.
		pinData: { 'Open tickets': all, 'All tickets again': all },
		logger: (line) => process.stdout.write(`  ${line}\n`),
	});
	const secs = ((Date.now() - started) / 1000).toFixed(1);
	const s = sandbox.stats();
	await sandbox.close();

	process.stdout.write(`\nWorkflow ${r.run.status} in ${secs} s. Where the records went:\n`);
	const gate = r.items('Project the full run', 0)[0]?.json.projection as
		| {
				items: number;
				sampleItems: number;
				costUsd: number;
				budgetUsd?: number;
				overBudget?: boolean;
		  }
		| undefined;
	if (gate)
		process.stdout.write(
			`  Sample gate      ${gate.sampleItems} sampled, projected $${gate.costUsd.toFixed(4)} for ${gate.items} (budget $${gate.budgetUsd ?? '–'}): ${gate.overBudget ? 'stopped' : 'full run'}\n`,
		);
	process.stdout.write(
		`  Batch Prepare    ${count('Batch Prepare', ['Ready', 'Rejected'], r.items)}\n`,
	);
	process.stdout.write(
		`  LLM Batch Call   ${count('LLM Batch Call', ['Success', 'Failed'], r.items)} (in ${r.outputs('LLM Batch Call').length} run(s): one more per Retry round)\n`,
	);
	process.stdout.write(
		`  Validate Output  ${count('Validate Output', ['Valid', 'Invalid', 'Review'], r.items)}\n`,
	);
	process.stdout.write(
		`  Route Failures   ${count('Route Failures', ['Retry', 'Dead Letter', 'Filtered'], r.items)}\n`,
	);
	process.stdout.write(
		`  Sandbox          ${s.requests} requests, ${s.paidSuccesses} paid answers, ${s.rateLimited} × 429, max ${s.maxInFlight} in flight\n\n`,
	);
	const report = r.items('Batch Report', 0)[0]?.json as { markdown?: string } | undefined;
	if (!report?.markdown) throw new Error('Batch Report produced no report');
	process.stdout.write(`${report.markdown}\n`);
	const alerts = r.items('Batch Report', 1);
	if (alerts.length > 0)
		process.stdout.write(`\n(The report also left on Alert: a threshold was crossed.)\n`);
}

main().catch((e: unknown) => {
	process.stderr.write(`demo failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
	process.exit(1);
});
