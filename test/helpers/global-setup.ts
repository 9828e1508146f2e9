// Global setup for `npm test`. Helpers that need a real server for the whole run
// (the throw-away PostgreSQL cluster for the ledger tests) start it here and export
// its address through process.env; teardown stops it.
export async function setup(): Promise<void> {}
export async function teardown(): Promise<void> {}
