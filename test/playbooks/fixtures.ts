// Test-only playbooks (never shipped): queries that try to write, sleep past the timeout, return many
// rows or hit a data error, written into a temporary directory for the loader's `dir` option.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const TEST_PLAYBOOKS: Record<string, string> = {
  'delete-bookings': `-- name: delete-bookings
-- description: Tries to delete every booking through a data-modifying WITH.
WITH gone AS (DELETE FROM bookings RETURNING id) SELECT id FROM gone
`,
  'take-sequence': `-- name: take-sequence
-- description: Tries to advance a sequence (a write hidden in a SELECT).
SELECT nextval('booking_events_id_seq') AS n
`,
  'lock-bookings': `-- name: lock-bookings
-- description: Tries to lock rows for update.
SELECT id FROM bookings FOR UPDATE
`,
  'sleep': `-- name: sleep
-- description: Sleeps, to meet the statement timeout.
-- param: seconds integer(0..60) default 3
SELECT pg_sleep(:seconds) AS slept
`,
  'series': `-- name: series
-- description: Numbers 1 to n.
-- param: n integer(1..100000) required
-- param: limit limit default 10
SELECT g FROM generate_series(1, :n) AS g ORDER BY g
`,
  'series-unlimited': `-- name: series-unlimited
-- description: Numbers 1 to n, with no limit parameter: the runner's maximum applies.
-- param: n integer(1..100000) required
SELECT g FROM generate_series(1, :n) AS g ORDER BY g
`,
  'divide': `-- name: divide
-- description: 100 divided by n (a data error for n = 0).
-- param: n integer required
SELECT 100 / :n AS q
`,
  'tricky-text': `-- name: tricky-text
-- description: Values CSV must quote or defuse: a comma, quotes, a line break, a formula.
SELECT 'a,b' AS comma, 'say "hi"' AS quotes, E'line 1\\nline 2' AS lines, '=1+1' AS formula, NULL::text AS nothing, 7::bigint AS n
`,
};

/** A temporary directory holding the test playbooks (and, optionally, the shipped ones). */
export function testPlaybookDir(withShipped = false): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-test-playbooks-'));
  for (const [name, text] of Object.entries(TEST_PLAYBOOKS)) fs.writeFileSync(path.join(dir, `${name}.sql`), text);
  if (withShipped) {
    const shipped = path.resolve(__dirname, '../../playbooks');
    for (const f of fs.readdirSync(shipped).filter((n) => n.endsWith('.sql'))) fs.copyFileSync(path.join(shipped, f), path.join(dir, f));
  }
  return dir;
}

