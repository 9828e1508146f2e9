import { configWithoutCloudSupport } from '@n8n/node-cli/eslint';

// n8n's community-node rules in their self-hosted form (no n8n Cloud support: the nodes call
// the providers' SDKs and read the file system and environment). `no-runtime-dependencies` is
// on as n8n ships it: the SDKs, ajv, zod, pg and the tokenizer are bundled into dist/
// (scripts/bundle.mjs), so the package has no `dependencies`.
export default [
	...configWithoutCloudSupport,
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
		ignores: ['build/**', 'examples/**', '*.config.*', '.prettierrc.js', 'scripts/n8n/**'],
	},
];
