import { configWithoutCloudSupport } from '@n8n/node-cli/eslint';

// n8n's community-node rules in their self-hosted form (no n8n Cloud support):
// this package ships the official `openai` and `@anthropic-ai/sdk` clients, ajv,
// gpt-tokenizer and `pg` as runtime dependencies, which n8n Cloud forbids but a
// self-hosted Community Nodes install resolves with npm. Hence
// `no-runtime-dependencies` is off; every other rule stays as n8n ships it.
export default [
	...configWithoutCloudSupport,
	{
		files: ['package.json'],
		rules: { '@n8n/community-nodes/no-runtime-dependencies': 'off' },
	},
	{
		ignores: ['test/**', 'bench/**', 'sandbox/**', 'scripts/**', 'examples/**', '*.config.*', 'gulpfile.js'],
	},
];
