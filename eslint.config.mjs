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
	// Tests, the sandbox, scripts and benches are not shipped to n8n: the TypeScript and import
	// rules hold there too, but they may print, use timers and read the environment.
	{
		files: ['test/**/*.ts', 'sandbox/**/*.ts', 'scripts/**/*.ts', 'bench/**/*.ts'],
		rules: {
			'no-console': 'off',
			'@n8n/community-nodes/no-restricted-globals': 'off',
			'@n8n/community-nodes/no-restricted-imports': 'off',
			'@n8n/community-nodes/no-dangerous-functions': 'off',
			'@n8n/community-nodes/require-node-api-error': 'off',
			'@n8n/community-nodes/no-hardcoded-secrets': 'off',
			'@typescript-eslint/no-unused-vars': [
				'error',
				{
					argsIgnorePattern: '^_',
					varsIgnorePattern: '^_',
					destructuredArrayIgnorePattern: '^_',
					ignoreRestSiblings: true,
				},
			],
		},
	},
	{
		ignores: ['examples/**', '*.config.*', 'gulpfile.js', '.prettierrc.js', 'scripts/n8n/**'],
	},
];
