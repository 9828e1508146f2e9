import { defineConfig } from 'vitest/config';

// Layer 4: the packed package inside a real n8n 2.41.1 (CLI, `n8n start`, a browser).
// Files run one after another: each spawns n8n processes that need the CPU and their own ports.
export default defineConfig({
	test: {
		include: ['test/e2e/**/*.e2e.test.ts'],
		testTimeout: 300_000,
		hookTimeout: 600_000,
		pool: 'forks',
		fileParallelism: false,
		reporters: ['default'],
	},
});
