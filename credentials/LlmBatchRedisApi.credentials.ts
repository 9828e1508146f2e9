import type { Icon, ICredentialType, INodeProperties } from 'n8n-workflow';

/**
 * A Redis server through which LLM Batch Call shares its rate limits between n8n processes
 * (queue-mode workers, several mains). Not an HTTP API, so there is no `test` request here:
 * LLM Batch Call tests it with `testedBy: 'llmBatchRedisConnectionTest'`
 * (nodes/shared/credential-tests.ts), which connects, authenticates and runs the
 * limiter's script once.
 */
export class LlmBatchRedisApi implements ICredentialType {
	name = 'llmBatchRedisApi';

	displayName = 'LLM Batch: Redis';

	icon: Icon = { light: 'file:llmBatchRedis.svg', dark: 'file:llmBatchRedis.dark.svg' };

	documentationUrl = 'https://redis.io/docs/latest/operate/oss_and_stack/management/security/';

	properties: INodeProperties[] = [
		{
			displayName: 'Host',
			name: 'host',
			type: 'string',
			default: 'localhost',
			required: true,
			description:
				'The Redis that n8n queue mode already uses is fine: the limits live under keys starting with llm-batch:limit:',
		},
		{
			displayName: 'Port',
			name: 'port',
			type: 'number',
			default: 6379,
			required: true,
		},
		{
			displayName: 'User',
			name: 'user',
			type: 'string',
			default: '',
			description: 'Redis 6+ ACL user; leave empty for the default user',
		},
		{
			displayName: 'Password',
			name: 'password',
			type: 'string',
			typeOptions: { password: true },
			default: '',
		},
		{
			displayName: 'Database Number',
			name: 'database',
			type: 'number',
			default: 0,
		},
		{
			displayName: 'TLS',
			name: 'tls',
			type: 'boolean',
			default: false,
			description: 'Whether to connect over TLS (managed Redis services usually require it)',
		},
	];
}
