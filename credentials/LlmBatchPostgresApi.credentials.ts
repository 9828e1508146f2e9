import type { Icon, ICredentialType, INodeProperties } from 'n8n-workflow';

/**
 * A PostgreSQL database for the shared ledger (several workers or instances running one job).
 * Not an HTTP API, so there is no `test` request here: the nodes that use it test it with
 * `testedBy: 'llmBatchPostgresConnectionTest'` (nodes/shared/credential-tests.ts), which
 * connects and creates the ledger tables.
 */
export class LlmBatchPostgresApi implements ICredentialType {
	name = 'llmBatchPostgresApi';

	displayName = 'LLM Batch: PostgreSQL Ledger';

	icon: Icon = { light: 'file:llmBatchPostgres.svg', dark: 'file:llmBatchPostgres.dark.svg' };

	documentationUrl = 'https://www.postgresql.org/docs/current/libpq-connect.html';

	properties: INodeProperties[] = [
		{
			displayName: 'Host',
			name: 'host',
			type: 'string',
			default: 'localhost',
			required: true,
		},
		{
			displayName: 'Port',
			name: 'port',
			type: 'number',
			default: 5432,
			required: true,
		},
		{
			displayName: 'Database',
			name: 'database',
			type: 'string',
			default: 'postgres',
			required: true,
			description:
				'The ledger creates its two tables (llm_batch_ledger_records, llm_batch_ledger_cache) here',
		},
		{
			displayName: 'User',
			name: 'user',
			type: 'string',
			default: 'postgres',
			required: true,
		},
		{
			displayName: 'Password',
			name: 'password',
			type: 'string',
			typeOptions: { password: true },
			default: '',
		},
		{
			displayName: 'SSL',
			name: 'ssl',
			type: 'options',
			options: [
				{ name: 'Disable', value: 'disable', description: 'Plain connection' },
				{
					name: 'Allow',
					value: 'allow',
					description: 'Encrypted, any server certificate accepted',
				},
				{
					name: 'Require',
					value: 'require',
					description: 'Encrypted, any server certificate accepted',
				},
				{
					name: 'Verify Full',
					value: 'verify-full',
					description: 'Encrypted, the server certificate must be valid for the host',
				},
			],
			default: 'disable',
		},
	];
}
