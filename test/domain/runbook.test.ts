// Runbooks as data: the shipped files load and follow the lessons (system checks first), and a bad
// file is refused at start-up with every problem named by file and path.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CHECK_NAMES, SEVERITIES, type ManualStep } from '../../domain/incident';
import { runbookVersion, validateRunbook } from '../../domain/runbook';
import { DEFAULT_RUNBOOKS_DIR, RunbookError, loadRunbooks, parseRunbook } from '../../runbooks/load';

const GOOD = `version: 2
severity: SEV2
steps:
  - id: check-database
    type: auto
    check: database
    title: Database answers
  - id: first-public-update
    type: manual
    title: Post the first public update
    instructions: Say what customers see.
    role: communications
    timeLimit: 10m
`;

/** The problems parseRunbook reports for `text`, or [] when it parses. */
function problemsOf(text: string, fileName = 'bad.yaml'): string[] {
  try {
    parseRunbook(text, fileName);
    return [];
  } catch (err) {
    expect(err).toBeInstanceOf(RunbookError);
    return (err as RunbookError).problems;
  }
}

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-runbooks-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A copy of the shipped runbooks in a temporary directory, to break on purpose. */
function copyShipped(): string {
  for (const f of fs.readdirSync(DEFAULT_RUNBOOKS_DIR)) {
    if (/\.(ya?ml|json)$/.test(f)) fs.copyFileSync(path.join(DEFAULT_RUNBOOKS_DIR, f), path.join(tmp, f));
  }
  return tmp;
}

describe('the shipped runbooks', () => {
  const runbooks = loadRunbooks();

  test('load, one per severity', () => {
    expect([...runbooks.keys()]).toEqual([...SEVERITIES]);
    for (const [severity, rb] of runbooks) {
      expect(rb.severity).toBe(severity);
      expect(rb.version).toMatch(/^\d+\+[0-9a-f]{12}$/);
      expect(rb.steps.length).toBeGreaterThan(0);
    }
  });

  test('start with the system checklist: every check for SEV1 and SEV2, some for SEV3 and SEV4', () => {
    for (const [severity, rb] of runbooks) {
      const firstManual = rb.steps.findIndex((s) => s.kind === 'manual');
      const autos = rb.steps.filter((s) => s.kind === 'auto');
      expect(firstManual).toBe(autos.length); // all auto steps come first
      const checks = autos.map((s) => (s.kind === 'auto' ? s.check : undefined));
      if (severity === 'SEV1' || severity === 'SEV2') expect(new Set(checks)).toEqual(new Set(CHECK_NAMES));
      else expect(checks).toEqual(expect.arrayContaining(['database', 'bookings_not_started']));
    }
  });

  test('SEV1 names a communications lead within 10 minutes and has operations confirm cars connect', () => {
    const manual = runbooks.get('SEV1')!.steps.filter((s): s is ManualStep => s.kind === 'manual');
    const comms = manual.find((s) => /communications lead/i.test(s.title));
    expect(comms).toMatchObject({ role: 'communications', timeLimitMs: 10 * 60_000 });
    expect(manual.find((s) => /connect to cars/i.test(s.title))).toMatchObject({ role: 'operations' });
    expect(manual.find((s) => /scribe log/i.test(s.title))).toMatchObject({ role: 'scribe' });
    for (const s of manual) expect(s.instructions.length).toBeGreaterThan(20);
  });

  test('the default directory is runbooks/ at the repository root', () => {
    expect(DEFAULT_RUNBOOKS_DIR).toBe(path.resolve(__dirname, '..', '..', 'runbooks'));
  });
});

describe('parseRunbook', () => {
  test('converts the file shape to a snapshot: type -> kind, timeLimit -> timeLimitMs', () => {
    const rb = parseRunbook(GOOD, 'sev2.yaml');
    expect(rb).toEqual({
      severity: 'SEV2',
      version: expect.stringMatching(/^2\+[0-9a-f]{12}$/),
      steps: [
        { id: 'check-database', kind: 'auto', title: 'Database answers', check: 'database' },
        {
          id: 'first-public-update', kind: 'manual', title: 'Post the first public update',
          instructions: 'Say what customers see.', role: 'communications', timeLimitMs: 600_000,
        },
      ],
    });
  });

  test('reads JSON too', () => {
    const json = JSON.stringify({ version: 1, severity: 'SEV4', steps: [{ id: 'a', type: 'auto', check: 'temporal', title: 'Temporal' }] });
    expect(parseRunbook(json, 'sev4.json').steps).toEqual([{ id: 'a', kind: 'auto', title: 'Temporal', check: 'temporal' }]);
  });

  test('the version changes whenever the file changes, even with the same declared version', () => {
    const a = parseRunbook(GOOD, 'sev2.yaml').version;
    const b = parseRunbook(GOOD.replace('Say what customers see.', 'Say what customers see and when.'), 'sev2.yaml').version;
    expect(a).not.toBe(b);
    expect(a.split('+')[0]).toBe(b.split('+')[0]);
    expect(parseRunbook(GOOD, 'other-name.yaml').version).toBe(a); // the content decides, not the name
    expect(runbookVersion(7, 'abcdef0123456789')).toBe('7+abcdef012345');
  });

  test('an unknown check is named with the valid ones', () => {
    const problems = problemsOf(GOOD.replace('check: database', 'check: databse'), 'sev2.yaml');
    expect(problems).toEqual([
      `sev2.yaml: steps[0] "check-database".check: unknown check "databse" (expected one of: ${CHECK_NAMES.join(', ')})`,
    ]);
  });

  test('duplicate step ids', () => {
    const text = GOOD.replace('id: first-public-update', 'id: check-database');
    expect(problemsOf(text)).toEqual(['bad.yaml: steps[1] "check-database".id: duplicate step id "check-database" (already used by steps[0])']);
  });

  test('a manual step without a role', () => {
    expect(problemsOf(GOOD.replace('    role: communications\n', ''))).toEqual(['bad.yaml: steps[1] "first-public-update".role: is required']);
  });

  test('an unknown role', () => {
    expect(problemsOf(GOOD.replace('role: communications', 'role: press'))[0]).toMatch(
      /steps\[1\] "first-public-update"\.role: unknown role "press" \(expected one of: commander, deputy, communications, operations, scribe\)/,
    );
  });

  test.each([
    ['10 minutes', /invalid duration "10 minutes"/],
    ['0m', /must be more than 0 and at most 7d/],
    ['30d', /must be more than 0 and at most 7d/],
    ['600', null], // a plain number string is milliseconds, as everywhere in Keel's configuration
  ])('timeLimit %s', (value, error) => {
    const problems = problemsOf(GOOD.replace('timeLimit: 10m', `timeLimit: "${value}"`));
    if (error === null) expect(problems).toEqual([]);
    else expect(problems).toEqual([expect.stringMatching(new RegExp(`^bad\\.yaml: steps\\[1\\] "first-public-update"\\.timeLimit: .*${error.source}`))]);
  });

  test('a number as timeLimit is refused (units are required)', () => {
    expect(problemsOf(GOOD.replace('timeLimit: 10m', 'timeLimit: 10'))).toEqual([
      'bad.yaml: steps[1] "first-public-update".timeLimit: must be a duration such as "10m" or "1h", not number 10',
    ]);
  });

  test('unknown keys, at the top and in a step', () => {
    const text = GOOD.replace('severity: SEV2', 'severity: SEV2\nowner: ops').replace('    timeLimit: 10m', '    timelimit: 10m');
    expect(problemsOf(text)).toEqual([
      'bad.yaml: steps[1] "first-public-update": unknown key "timelimit"',
      'bad.yaml: top level: unknown key "owner"',
    ]);
  });

  test('an auto step may not carry manual fields, and a bad type is explained', () => {
    const text = GOOD.replace('    title: Database answers', '    title: Database answers\n    role: operations').replace('type: manual', 'type: manaul');
    expect(problemsOf(text)).toEqual([
      'bad.yaml: steps[0] "check-database": unknown key "role"',
      'bad.yaml: steps[1] "first-public-update".type: type must be "auto" (an automated check) or "manual" (a task for a role)',
    ]);
  });

  test('every problem is reported at once', () => {
    const text = `version: 0
severity: SEV9
steps:
  - {id: Check_DB, type: auto, check: disk, title: ""}
  - {id: b, type: manual, title: t, instructions: i}
  - {id: b, type: manual, title: t, instructions: i, role: scribe, timeLimit: soon}
`;
    expect(problemsOf(text)).toEqual([
      'bad.yaml: version: must be at least 1',
      'bad.yaml: severity: unknown severity "SEV9" (expected one of: SEV1, SEV2, SEV3, SEV4)',
      expect.stringMatching(/^bad\.yaml: steps\[0\] "Check_DB"\.id: must be kebab-case/),
      'bad.yaml: steps[0] "Check_DB".title: must not be empty',
      expect.stringMatching(/^bad\.yaml: steps\[0\] "Check_DB"\.check: unknown check "disk"/),
      'bad.yaml: steps[1] "b".role: is required',
      expect.stringMatching(/^bad\.yaml: steps\[2\] "b"\.timeLimit: invalid duration "soon"/),
      'bad.yaml: steps[2] "b".id: duplicate step id "b" (already used by steps[1])',
    ]);
  });

  test('files that are not runbooks', () => {
    expect(problemsOf('')).toEqual(['bad.yaml: top level: must be a mapping with version, severity and steps, not null']);
    expect(problemsOf('version: 1\nseverity: SEV1\nsteps: []')).toEqual(['bad.yaml: steps: must hold at least one step']);
    expect(problemsOf('version: 1\nseverity: SEV1\nsteps:\n  - just text')).toEqual([
      'bad.yaml: steps[0]: must be a step (a mapping with id, type, title...), not string',
    ]);
    expect(problemsOf('version: [1')[0]).toMatch(/^bad\.yaml: not valid YAML: /);
    expect(problemsOf('version: 1\nversion: 2')[0]).toMatch(/^bad\.yaml: not valid YAML: Map keys must be unique/);
    expect(problemsOf('{"version": 1,}', 'sev1.json')[0]).toMatch(/^sev1\.json: not valid JSON: /);
  });

  test('the error message lists every problem under the file name', () => {
    expect(() => parseRunbook(GOOD.replace('role: communications', 'role: press').replace('check: database', 'check: disk'), 'sev2.yaml')).toThrow(
      /^Invalid runbooks in sev2\.yaml \(2 problems\):\n {2}- sev2\.yaml: steps\[0\].*unknown check "disk".*\n {2}- sev2\.yaml: steps\[1\].*unknown role "press"/,
    );
  });

  test('validateRunbook works on parsed data without any I/O (workflow-safe half)', () => {
    expect(validateRunbook({ version: 1, severity: 'SEV3', steps: [{ id: 'x', type: 'auto', check: 'pollers', title: 'P' }] })).toEqual({
      ok: true, severity: 'SEV3', declaredVersion: 1, steps: [{ id: 'x', kind: 'auto', check: 'pollers', title: 'P' }],
    });
  });
});

describe('loadRunbooks', () => {
  test('one error lists the problems of every file, with file names', () => {
    const dir = copyShipped();
    fs.writeFileSync(path.join(dir, 'sev1.yaml'), fs.readFileSync(path.join(dir, 'sev1.yaml'), 'utf8').replace('check: pollers', 'check: poller'));
    fs.writeFileSync(path.join(dir, 'sev3.yaml'), fs.readFileSync(path.join(dir, 'sev3.yaml'), 'utf8').replace('role: operations', 'role: ops'));
    let error: unknown;
    try {
      loadRunbooks(dir);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(RunbookError);
    const { problems, message } = error as RunbookError;
    expect(problems).toEqual([
      expect.stringMatching(/^sev1\.yaml: steps\[2\] "check-pollers"\.check: unknown check "poller"/),
      expect.stringMatching(/^sev3\.yaml: steps\[\d+\] "[a-z-]+"\.role: unknown role "ops"/),
    ]);
    expect(message).toContain(`Invalid runbooks in ${dir} (2 problems)`);
  });

  test('a missing severity is an error', () => {
    const dir = copyShipped();
    fs.rmSync(path.join(dir, 'sev3.yaml'));
    expect(() => loadRunbooks(dir)).toThrow(/no runbook for SEV3/);
  });

  test('two files for one severity is an error', () => {
    const dir = copyShipped();
    fs.copyFileSync(path.join(dir, 'sev2.yaml'), path.join(dir, 'sev2-copy.yml'));
    expect(() => loadRunbooks(dir)).toThrow(/sev2\.yaml: severity SEV2 is already defined by sev2-copy\.yml/);
  });

  test('reads .yaml, .yml and .json, ignores other files', () => {
    const dir = copyShipped();
    fs.renameSync(path.join(dir, 'sev4.yaml'), path.join(dir, 'sev4.yml'));
    fs.rmSync(path.join(dir, 'sev3.yaml'));
    fs.writeFileSync(path.join(dir, 'sev3.json'), JSON.stringify({ version: 5, severity: 'SEV3', steps: [{ id: 'db', type: 'auto', check: 'database', title: 'DB' }] }));
    fs.writeFileSync(path.join(dir, 'README.md'), '# not a runbook');
    const runbooks = loadRunbooks(dir);
    expect(runbooks.get('SEV3')!.version).toMatch(/^5\+/);
    expect(runbooks.get('SEV4')!.steps.length).toBeGreaterThan(0);
  });

  test('a changed file gets a new version; an unchanged one keeps it', () => {
    const dir = copyShipped();
    const before = loadRunbooks(dir);
    const file = path.join(dir, 'sev2.yaml');
    fs.appendFileSync(file, '# reviewed after the March incident\n');
    const after = loadRunbooks(dir);
    expect(after.get('SEV2')!.version).not.toBe(before.get('SEV2')!.version);
    expect(after.get('SEV2')!.steps).toEqual(before.get('SEV2')!.steps);
    expect(after.get('SEV1')!.version).toBe(before.get('SEV1')!.version);
  });

  test('a directory that does not exist', () => {
    expect(() => loadRunbooks(path.join(tmp, 'nope'))).toThrow(/cannot read the runbook directory/);
  });
});
