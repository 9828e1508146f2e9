import { MODEL_UNKNOWN, type LlmBatchError } from './errors';

/**
 * A configuration that cannot work, found before the batch is under way: the run
 * ends at once with this instead of minutes of retries and breaker pauses. `parameter` is
 * the name the user sees in the node or credential.
 */
export class ConfigurationError extends Error {
	constructor(
		message: string,
		readonly parameter: string,
		readonly hint?: string,
	) {
		super(message);
		this.name = 'ConfigurationError';
	}
}

function bodyText(e: unknown): string {
	const parts: string[] = [];
	for (let x = e, depth = 0; x && typeof x === 'object' && depth < 4; depth++) {
		const o = x as { message?: unknown; code?: unknown; error?: unknown; cause?: unknown };
		if (typeof o.message === 'string') parts.push(o.message);
		if (typeof o.code === 'string') parts.push(o.code);
		if (o.error !== undefined) {
			try {
				parts.push(JSON.stringify(o.error));
			} catch {
				// a cyclic body says nothing useful here
			}
		}
		x = o.cause;
	}
	return parts.join(' ');
}

const REFUSED = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ERR_INVALID_URL|Invalid URL/;

/**
 * What the first answer of a run says about the configuration, when it proves it cannot work:
 * an unknown model, an endpoint that does not exist (404), a host that refuses connections
 * or does not resolve. Undefined for everything a retry or another item might get past.
 */
export function configurationProblem(
	error: LlmBatchError,
	setting: { model: string; baseUrl?: string },
): ConfigurationError | undefined {
	const text = `${error.message} ${bodyText(error.cause)}`;
	const where = setting.baseUrl ? ` (${setting.baseUrl})` : '';
	const modelUnknown = error.code === 'model_not_found' || MODEL_UNKNOWN.test(text);
	if ((error.status === 404 || error.status === 400) && modelUnknown) {
		return new ConfigurationError(
			`The provider does not know the model "${setting.model}"`,
			'Model',
			'Enter a model ID this endpoint serves (its /v1/models list); nothing else was sent.',
		);
	}
	if (error.status === 404) {
		return new ConfigurationError(
			`The endpoint was not found (404) at the Base URL${where}`,
			'Base URL (credential)',
			'Check the Base URL in the credential: OpenAI-compatible servers usually end in /v1 (e.g. http://localhost:11434/v1); nothing else was sent.',
		);
	}
	if (error.code === 'connection' && REFUSED.test(text)) {
		const code = REFUSED.exec(text)![0];
		// Words, not the errno: n8n replaces a message that carries ECONNREFUSED with its own.
		const words =
			code === 'ECONNREFUSED'
				? 'the connection was refused'
				: code === 'ENOTFOUND' || code === 'EAI_AGAIN'
					? 'the host name does not resolve'
					: 'the URL is not valid';
		return new ConfigurationError(
			`Could not connect to the Base URL${where}: ${words}`,
			'Base URL (credential)',
			`Check the host and port in the credential and that the server is running (${code}); nothing else was sent.`,
		);
	}
	return undefined;
}
