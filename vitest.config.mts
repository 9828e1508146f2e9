import { defineConfig } from 'vitest/config';

// Fast layers (core, nodes, in-process workflows, ledger stores) run in `npm test`;
// the real-n8n end-to-end layer has its own config (vitest.e2e.config.mts).
export default defineConfig({
	test: {
		include: [
			'test/core/**/*.test.ts',
			'test/sandbox/**/*.test.ts',
			'test/nodes/**/*.test.ts',
			'test/workflow/**/*.test.ts',
			'test/promises/**/*.test.ts',
		],
		testTimeout: 120_000,
		hookTimeout: 120_000,
		pool: 'forks',
		globalSetup: ['test/helpers/global-setup.ts'],
		// Tests skipped for a missing service (redis-server) are named once at the end.
		reporters: ['default', './test/helpers/skip-summary-reporter.ts'],
		// n8n's packages ship source maps without sources; vite would warn for every file.
		server: { sourcemap: false },
	},
	logLevel: 'error',
});
