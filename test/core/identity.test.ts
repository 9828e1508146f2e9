import { createHash } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import {
	answerIdentity,
	answerScope,
	callHash,
	credentialFingerprint,
	describeNotReused,
	normalisedEndpoint,
	storedAnswerVerdict,
} from '../../core/identity';

const call = {
	provider: 'openai',
	model: 'gpt-4o-mini',
	system: 'Classify.',
	prompt: 'ticket 1',
	maxTokens: 100,
};

describe('answer identity', () => {
	it('one endpoint, one spelling: default URL, case, default port and trailing slashes do not count', () => {
		expect(normalisedEndpoint('openai', undefined)).toBe('https://api.openai.com/v1');
		expect(normalisedEndpoint('openai', '')).toBe(
			normalisedEndpoint('openai', 'https://api.openai.com/v1'),
		);
		expect(normalisedEndpoint('openai', 'HTTPS://API.OpenAI.com:443/v1//')).toBe(
			'https://api.openai.com/v1',
		);
		expect(normalisedEndpoint('anthropic', undefined)).toBe('https://api.anthropic.com');
		expect(normalisedEndpoint('openai', 'http://localhost:11434/v1')).not.toBe(
			normalisedEndpoint('openai', 'http://localhost:11435/v1'),
		);
		expect(answerScope('openai', 'https://api.openai.com/v1/', 'sk-a')).toBe(
			answerScope('openai', undefined, 'sk-a'),
		);
	});

	it('the credential fingerprint tells keys apart without holding or revealing them', () => {
		const key = 'sk-proj-abcdefghijklmnop';
		const fp = credentialFingerprint(key);
		expect(fp).toMatch(/^[0-9a-f]{32}$/);
		expect(credentialFingerprint(key)).toBe(fp);
		expect(credentialFingerprint(`${key}x`)).not.toBe(fp);
		expect(fp).not.toContain(key);
		// Not a plain hash of the key (one SHA-256 per guess): scrypt, salted.
		expect(fp).not.toBe(createHash('sha256').update(key).digest('hex').slice(0, 32));
		const scope = answerScope('openai', undefined, key);
		expect(scope).toMatch(/^[0-9a-f]{16}$/);
		expect(answerScope('openai', undefined, 'sk-other')).not.toBe(scope);
		expect(answerScope('openai', 'http://dry-run:8080/v1', key)).not.toBe(scope);
		expect(answerScope('anthropic', undefined, key)).not.toBe(scope);
	});

	it('identity = call hash + scope; the call hash is the pre-scope formula and ignores the endpoint', () => {
		const real = answerScope('openai', undefined, 'sk-real');
		const dry = answerScope('openai', 'http://127.0.0.1:9/v1', 'dry');
		expect(answerIdentity(real, call)).toBe(`${callHash(call)}:${real}`);
		expect(answerIdentity(real, call)).not.toBe(answerIdentity(dry, call));
		expect(answerIdentity(real, { ...call, model: 'gpt-4o' })).not.toBe(answerIdentity(real, call));
		expect(answerIdentity(real, { ...call, temperature: 0.5 })).not.toBe(
			answerIdentity(real, call),
		);
	});

	it('verdicts: reuse, another endpoint or credential, stored before the scope, stale', () => {
		const real = answerScope('openai', undefined, 'sk-real');
		const dry = answerScope('openai', 'http://127.0.0.1:9/v1', 'dry');
		const wanted = answerIdentity(real, call);
		expect(storedAnswerVerdict(wanted, wanted)).toBe('reuse');
		expect(storedAnswerVerdict(answerIdentity(dry, call), wanted)).toBe('other_scope');
		expect(storedAnswerVerdict(callHash(call), wanted)).toBe('before_scope');
		expect(storedAnswerVerdict(answerIdentity(real, { ...call, prompt: 'x' }), wanted)).toBe(
			'stale',
		);
		expect(storedAnswerVerdict(callHash({ ...call, prompt: 'x' }), wanted)).toBe('stale');
		expect(describeNotReused({ otherScope: 0, beforeScope: 0 })).toBeUndefined();
		expect(describeNotReused({ otherScope: 3, beforeScope: 2 })).toBe(
			'3 stored answers came from another endpoint or credential: sent again; 2 stored answers were saved before answers were tied to an endpoint and credential: sent again once',
		);
	});
});
