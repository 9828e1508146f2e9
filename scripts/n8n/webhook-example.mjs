// The request that `npm start`'s banner and the README's quick start show for example 02
// (examples/02-webhook-batch.json). Its "Records from body" node takes {"records":[…]}; Batch
// Prepare reads the record ID from `ticketId` and requires `subject` and a `body` of 10 or more
// characters, so a body in any other shape ends as `invalid_input` rejects. Against the sandbox
// both tickets are answered with a confidence above Validate Output's threshold: a report of 2
// successes.

export const WEBHOOK_EXAMPLE_PATH = 'llm-batch';

export const WEBHOOK_EXAMPLE_RECORDS = Object.freeze([
	Object.freeze({
		ticketId: 'T-1001',
		subject: 'Billed twice',
		body: 'I was billed twice this month, please refund one payment.',
	}),
	Object.freeze({
		ticketId: 'T-1002',
		subject: 'Export does nothing',
		body: 'The CSV export button does nothing since the last update.',
	}),
]);

/** One shell line (no single quote inside the body, so it pastes as is). */
export function webhookExampleCurl(baseUrl) {
	const body = JSON.stringify({ records: WEBHOOK_EXAMPLE_RECORDS });
	return `curl -s -X POST ${baseUrl}/webhook/${WEBHOOK_EXAMPLE_PATH} -H 'content-type: application/json' -d '${body}'`;
}
