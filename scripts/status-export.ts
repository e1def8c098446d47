// `npm run status:export -- <dir>`: writes <dir>/index.html and <dir>/status.json from the stored status
// document, for hosting on a separate service (a bucket, another host): the lesson in CONTEXT.md is
// that the status page must stay reachable when Keel's own domain is down. Run it on a schedule (or
// after each rebuild) from anywhere that can reach the database.
//
//   DATABASE_URL=postgresql://... [KEEL_STATUS_COMPONENTS=a,b,c] npm run status:export -- ./public
import fs from 'node:fs/promises';
import path from 'node:path';
import { cliDatabaseUrl } from '../config/dev-database';
import { loadEnv } from '../config/env';
import { createDb, type Db } from '../db/client';
import { parseStatusComponents, renderStatusHtml, type StatusDocument } from '../domain/status-page';
import { getStatusPage } from '../services/status';

export interface ExportResult {
  htmlPath: string;
  jsonPath: string;
  document: StatusDocument;
}

/** Writes each file under a temporary name and renames it, so a server reading the directory never sees half a file. */
async function writeAtomically(file: string, content: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  await fs.writeFile(tmp, content, 'utf8');
  try {
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

export async function exportStatusPage(db: Db, components: string[], dir: string, opts: { title?: string } = {}): Promise<ExportResult> {
  const document = await getStatusPage({ db }, components);
  await fs.mkdir(dir, { recursive: true });
  const jsonPath = path.join(dir, 'status.json');
  const htmlPath = path.join(dir, 'index.html');
  await writeAtomically(jsonPath, `${JSON.stringify(document, null, 2)}\n`);
  await writeAtomically(htmlPath, renderStatusHtml(document, opts));
  return { htmlPath, jsonPath, document };
}

const USAGE = 'usage: npm run status:export -- <dir>   (DATABASE_URL must point at Keel\'s database)';

async function main(argv: string[]): Promise<number> {
  const dir = argv.find((a) => !a.startsWith('-'));
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  if (!dir) {
    console.error(`No output directory given.\n${USAGE}`);
    return 1;
  }
  let env;
  try {
    env = loadEnv();
  } catch (err) {
    console.error((err as Error).message);
    return 1;
  }
  const databaseUrl = cliDatabaseUrl(env);
  if (!databaseUrl) {
    console.error(
      'DATABASE_URL is not set and no `npm run dev` database was started here. Point it at the database Keel runs on, e.g.\n' +
        `  DATABASE_URL=postgresql://user:password@localhost:5432/keel npm run status:export -- ${dir}`,
    );
    return 1;
  }
  const components = parseStatusComponents(process.env.KEEL_STATUS_COMPONENTS);
  const db = createDb(databaseUrl, { poolSize: 1 });
  try {
    const { htmlPath, jsonPath, document } = await exportStatusPage(db, components, dir);
    console.log(`Wrote ${htmlPath} and ${jsonPath} (overall: ${document.overall}, generated ${document.generatedAt}).`);
    return 0;
  } catch (err) {
    const e = err as { message?: string; code?: string };
    console.error(`Status export failed: ${e.message || e.code || String(err)}`);
    return 1;
  } finally {
    await db.$disconnect().catch(() => undefined);
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
