// Command-line tools (seed, playbook, status export) find `npm run dev`'s database on their own: the
// dev stack writes its URL to <KEEL_DATA_DIR>/database-url, read here when DATABASE_URL is unset.
import fs from 'node:fs';
import path from 'node:path';

export const DEV_DATABASE_URL_FILE = 'database-url';

export function writeDevDatabaseUrl(dataDir: string, url: string): void {
  fs.writeFileSync(path.join(dataDir, DEV_DATABASE_URL_FILE), `${url}\n`, { mode: 0o600 });
}

/** DATABASE_URL, else the URL of the local dev stack's database when one was started here, else undefined. */
export function cliDatabaseUrl(env: { DATABASE_URL?: string; KEEL_DATA_DIR: string }): string | undefined {
  if (env.DATABASE_URL) return env.DATABASE_URL;
  try {
    return fs.readFileSync(path.join(env.KEEL_DATA_DIR, DEV_DATABASE_URL_FILE), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
