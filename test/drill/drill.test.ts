// A shorter crisis drill (`npm run drill`, scripts/drill.ts) as a child process against the test's
// Temporal and PostgreSQL (it creates and drops its own fresh database and terminates its workflows):
// 2,000 users x 5 submits plus a hostile template, 30 bookings, the notifications worker SIGKILLed,
// the database unreachable for 5 s. Every invariant of its JSON report must hold.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DrillReport } from '../../bench/drill/report';
import { testAdminUrl } from '../helpers/database';
import { testTemporalAddress } from '../helpers/temporal';

const ROOT = path.resolve(__dirname, '..', '..');
let child: ChildProcess | undefined;
let outDir: string;

beforeAll(() => {
  outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-drill-test-'));
});
afterAll(() => {
  if (child && child.exitCode === null) child.kill('SIGTERM'); // the drill stops its own processes
  fs.rmSync(outDir, { recursive: true, force: true });
});

test('the crisis drill, shortened: every invariant holds and the report says so', async () => {
  const args = ['--users', '2000', '--bookings', '30', '--window', '20', '--outage', '5', '--outage-at', '5', '--rate', '100', '--timeout', '120', '--out', outDir];
  const env = { ...process.env, TEMPORAL_ADDRESS: testTemporalAddress(), DATABASE_URL: testAdminUrl() };
  let output = '';
  const code = await new Promise<number | null>((resolve) => {
    child = spawn(process.execPath, ['--import', 'tsx', 'scripts/drill.ts', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (output += b.toString()));
    child.once('exit', (c) => resolve(c));
  });
  const files = fs.readdirSync(outDir);
  const json = files.find((f) => f.endsWith('.json'));
  if (!json) throw new Error(`no report written (exit ${code}):\n${output.slice(-4000)}`);
  expect(files.filter((f) => f.endsWith('.md'))).toHaveLength(1);
  const report = JSON.parse(fs.readFileSync(path.join(outDir, json), 'utf8')) as DrillReport;
  const broken = report.invariants.filter((i) => !i.ok);
  if (broken.length) console.log(output.slice(-4000));
  expect(broken).toEqual([]);
  expect(report.ok).toBe(true);
  expect(code).toBe(0);
  expect(output).toContain('DRILL PASSED');

  // The invariants by name, and what the figures must say.
  const value = (name: string) => report.invariants.find((i) => i.name === name)?.value;
  expect(value('campaigns created')).toBe('1');
  expect(value('recipients lost')).toBe('0');
  expect(value('duplicate codes')).toBe('0 (2000 issued)');
  expect(value('duplicate sends')).toBe('0 (2000 sends to 2000 recipients)');
  expect(report.figures.campaign.notSent).toEqual([]);
  expect(value('early starts')).toBe('0');
  const f = report.figures;
  expect(f.campaign).toMatchObject({ status: 'COMPLETED', total: 2000, sent: 2000, failed: 0, skipped: 0 });
  expect(f.bookings).toMatchObject({ created: 30, started: 30 });
  expect(f.submits).toHaveLength(5);
  expect(new Set(f.submits.map((s) => s.api))).toEqual(new Set([1, 2]));
  expect(f.hostile.status).toBe(400);
  expect(f.workerKill.sentAtKill).toBeGreaterThan(0);
  expect(f.workerKill.sentAtKill).toBeLessThan(2000);
  expect(f.outage.seconds).toBeGreaterThanOrEqual(5);
  expect(f.recovery.recoveredAfterMs).not.toBeNull();
  expect(f.connects.of).toBe(30);
  expect(f.connects.eventually).toBe(30);
  // Opened or not, said plainly; when opened, it is a drill.
  if (f.watchdog.incident === 'opened') expect(f.watchdog.drill).toBe(true);
  else expect(f.watchdog.why).toBeTruthy();
}, 240_000);
