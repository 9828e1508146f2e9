import { describe, expect, it } from 'vitest';

import { redactSecrets } from '../../core/redact';

describe('redactSecrets', () => {
	it('removes the exact secret and key-shaped strings, and leaves ordinary words alone', () => {
		const key = 'my-local-secret-123';
		expect(
			redactSecrets(
				`Incorrect API key provided: ${key}; also sk-proj-abc123DEF456, sk-ant-api03-XYZ987654 and sk-****************wxyz. Authorization: Bearer abcdefghijklmnop, url http://user:pa55word@host/v1`,
				[key],
			),
		).toBe(
			'Incorrect API key provided: [redacted]; also [redacted], [redacted] and [redacted]. Authorization: Bearer [redacted], url http://[redacted]@host/v1',
		);
		// Words that merely contain "sk-" and short values are not touched.
		expect(redactSecrets('the task-123456 on disk-7 failed', ['x'])).toBe(
			'the task-123456 on disk-7 failed',
		);
	});

	it("removes a Google API key (Gemini's `AIza…`), also in a URL's `key=`", () => {
		const other = `AIzaSy${'A1b2C3d4E5'.repeat(3)}_-xyz`;
		expect(
			redactSecrets(
				`API key not valid: ${other}; GET https://generativelanguage.googleapis.com/v1beta/models?key=${other}`,
			),
		).toBe(
			'API key not valid: [redacted]; GET https://generativelanguage.googleapis.com/v1beta/models?key=[redacted]',
		);
	});
});
