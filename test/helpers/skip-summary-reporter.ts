/**
 * Closes the run with what it could not run: tests that skipped themselves for a missing
 * service (context.skip(note), e.g. skipWithoutRedis) are listed once, by reason and file, after
 * vitest's own summary, so a green run on a bare machine says what it did not check.
 */
import { relative } from 'node:path';

import type { Reporter, TestModule } from 'vitest/node';

import { INSTALL_REDIS_SERVER, NO_REDIS_SERVER } from './redis';

/** What to do about each reason a test skipped itself. */
const REMEDY: Record<string, string> = { [NO_REDIS_SERVER]: INSTALL_REDIS_SERVER };

export default class SkipSummaryReporter implements Reporter {
	/** skip note -> test file -> number of tests skipped with it */
	private skipped = new Map<string, Map<string, number>>();

	onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
		this.skipped.clear();
		for (const module of testModules) {
			const file = relative(process.cwd(), module.moduleId);
			for (const test of module.children.allTests()) {
				const result = test.result();
				if (result.state !== 'skipped' || !result.note) continue;
				const files = this.skipped.get(result.note) ?? new Map<string, number>();
				files.set(file, (files.get(file) ?? 0) + 1);
				this.skipped.set(result.note, files);
			}
		}
	}

	// onFinished runs after the default reporter has printed its summary: this is the last word.
	onFinished(): void {
		for (const [note, files] of this.skipped) {
			const lines = [...files]
				.sort(([a], [b]) => a.localeCompare(b))
				.map(([file, n]) => `   ${file} (${n} tests skipped)`);
			const remedy = REMEDY[note] ? `: ${REMEDY[note]}` : '';
			process.stdout.write(`\n Not run here — ${note}${remedy}\n${lines.join('\n')}\n\n`);
		}
	}
}
