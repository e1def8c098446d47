// `npm run db:migrate`: applies pending migrations to DATABASE_URL (see db/migrate.ts).
// `npm run dev` migrates its embedded database itself, so this is for real PostgreSQL servers.
import { migrate, MigrationError } from '../db/migrate';

/** The URL without its password, so it can be printed. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

/**
 * Errors an operator can act on from the message alone (refusals, SQL errors, unreachable or
 * misnamed databases, bad passwords) print without a stack; JavaScript errors that mean a bug in
 * this code keep theirs.
 */
function isExpected(err: unknown): boolean {
  if (err instanceof MigrationError) return true;
  return err instanceof Error && !(err instanceof TypeError || err instanceof ReferenceError || err instanceof RangeError || err instanceof SyntaxError);
}

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error(
      'DATABASE_URL is not set. Set it to the PostgreSQL server to migrate, e.g.\n' +
        '  DATABASE_URL=postgresql://user:password@localhost:5432/keel npm run db:migrate\n' +
        '(`npm run dev` without DATABASE_URL migrates its embedded database by itself.)',
    );
    process.exitCode = 1;
    return;
  }
  console.log(`Migrating ${redact(url)}`);
  try {
    const { applied } = await migrate(url, { log: (msg) => console.log(msg) });
    console.log(applied.length ? `Done: ${applied.length} migration(s) applied.` : 'Database is up to date.');
  } catch (err) {
    // Node's happy-eyeballs connect can throw an AggregateError with an empty message: fall back to the code.
    const e = err as { message?: string; code?: string };
    console.error(isExpected(err) ? `Migration failed: ${e.message || e.code}` : err);
    process.exitCode = 1;
  }
}

void main();
