// The layer rules in eslint.config.mjs bite: snippets linted as if they were api/routes/* or
// workflows/* files get the layer error for a forbidden import and none for an allowed one.
//
// ESLint loads its flat config with a dynamic import(), which jest's module runtime rejects without
// --experimental-vm-modules, so the linting runs in a child process (as test/db/embedded.test.ts does
// for PGlite). Type-aware rules are switched off there: the snippets are not files of the TypeScript
// project, and the layer rules need no type information.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

interface Case { filePath: string; code: string }
interface Message { ruleId: string | null; line: number; message: string }

const CHILD = `
const { ESLint } = require('eslint');
const tseslint = require('typescript-eslint');
const cases = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
const eslint = new ESLint({ cwd: process.cwd(), overrideConfig: tseslint.configs.disableTypeChecked });
(async () => {
  const out = [];
  for (const c of cases) {
    const [r] = await eslint.lintText(c.code, { filePath: c.filePath });
    out.push(r.messages.map((m) => ({ ruleId: m.ruleId, line: m.line, message: m.message })));
  }
  process.stdout.write(JSON.stringify(out));
})().catch((err) => { process.stderr.write(String(err && err.stack || err)); process.exit(1); });`;

/** Lints every case in one child process (one config load); returns each case's messages. */
function lint(cases: Case[]): Message[][] {
  const res = spawnSync(process.execPath, ['-e', CHILD], { cwd: ROOT, input: JSON.stringify(cases), encoding: 'utf8', timeout: 120_000 });
  if (res.status !== 0) throw new Error(`eslint child failed (${res.error?.message ?? `exit ${res.status}`}): ${res.stderr}`);
  return JSON.parse(res.stdout) as Message[][];
}

const LAYER_RULES = new Set(['@typescript-eslint/no-restricted-imports', 'no-restricted-syntax']);

type Result = { source: string; errors: string[] };

// What each test lints: a file path (which layer's rules apply) and imports, one snippet each, so an
// expectation is about that import alone.
const CASES = {
  routesForbidden: {
    filePath: 'api/routes/example.ts',
    imports: [
      "import { createDb } from '../../db/client';",
      "import type { BookingRow } from '../../db/booking-store';",
      "import { Client } from '@temporalio/client';",
      "import { WorkflowNotFoundError } from '@temporalio/common';",
      "import { bookingWorkflow } from '../../workflows/booking';",
      "import { createBookingActivities } from '../../activities/bookings';",
      "import { Prisma } from '../../generated/prisma/client';",
      "import pino from 'pino';",
      "export { createDb } from '../../db/client';",
      "import { createDb } from './../../db/client';", // not normalized: still db/
      "import { createDb } from '../../domain/../db/client';",
      "const db = import('../../db/client');",
    ],
  },
  routesAllowed: {
    filePath: 'api/routes/example.ts',
    imports: [
      "import { requireRole } from '../auth';",
      "import { parseBody } from '../validation';",
      "import { health } from './health';",
      "import { declareIncident } from '../../services/declare-incident';",
      "import { BookingStatus } from '../../domain/booking';",
      "import { Router } from 'express';",
      "import { z } from 'zod';",
      "import path from 'node:path';",
      "import { randomUUID } from 'crypto';",
    ],
  },
  workflowsForbidden: {
    filePath: 'workflows/example.ts',
    imports: [
      "import { Client } from '@temporalio/client';",
      "import { Context } from '@temporalio/activity';",
      "import { ApplicationFailure } from '@temporalio/common';",
      "import fs from 'node:fs';",
      "import { createDb } from '../db/client';",
      "import { createBookingActivities } from '../activities/bookings';",
      "import { type BookingActivities, createBookingActivities } from '../activities/bookings';",
      "export { createDb } from '../db/client';",
    ],
  },
  workflowsAllowed: {
    filePath: 'workflows/example.ts',
    imports: [
      "import * as wf from '@temporalio/workflow';",
      "import { proxyActivities } from '@temporalio/workflow';",
      "import { campaignWorkflow } from './campaign';",
      "import { nextTransition } from '../domain/booking';",
      "import type { BookingActivities } from '../activities/bookings';",
      "import { type BookingChange } from '../db/booking-store';",
      "import type { Client } from '@temporalio/client';",
      "export type { BookingChange } from '../db/booking-store';",
    ],
  },
  ...Object.fromEntries(['activities/example.ts', 'api/app-example.ts', 'services/example.ts'].map((filePath) => [
    `outside:${filePath}`,
    { filePath, imports: ["import { createDb } from '../db/client';", "import { Client } from '@temporalio/client';"] },
  ])),
} satisfies Record<string, { filePath: string; imports: string[] }>;

const results = new Map<string, Result[]>();

// All snippets in one child process: loading ESLint, typescript-eslint and the config takes seconds.
beforeAll(() => {
  const entries = Object.entries(CASES);
  const linted = lint(entries.flatMap(([, c]) => c.imports.map((code) => ({ filePath: c.filePath, code: `${code}\n` }))));
  // A snippet that does not parse would report no layer error and pass for "allowed".
  const fatal = linted.flat().filter((m) => m.ruleId === null);
  if (fatal.length > 0) throw new Error(`snippets did not parse: ${JSON.stringify(fatal)}`);
  let i = 0;
  for (const [key, c] of entries) {
    results.set(key, c.imports.map((source) => ({
      source,
      errors: linted[i++].filter((m) => m.ruleId !== null && LAYER_RULES.has(m.ruleId)).map((m) => m.message),
    })));
  }
}, 150_000);

function flagged(key: string): string[] {
  const r = results.get(key);
  if (!r) throw new Error(`no lint results for ${key}`);
  return r.filter((x) => x.errors.length > 0).map((x) => x.source);
}
const firstError = (key: string) => results.get(key)?.[0]?.errors[0];

describe('layer rule: api/routes/*', () => {
  test('refuses the database, Temporal, workflows, activities, the Prisma client and other packages', () => {
    expect(flagged('routesForbidden')).toEqual(CASES.routesForbidden.imports);
    expect(firstError('routesForbidden')).toMatch(/api\/routes\/\* may import only api\/\*, services\/\*/);
  });

  test('allows api/*, services/*, domain/*, express, zod and node built-ins', () => {
    expect(flagged('routesAllowed')).toEqual([]);
  });
});

describe('layer rule: workflows/*', () => {
  test('refuses value imports from outside @temporalio/workflow, workflows/ and domain/', () => {
    expect(flagged('workflowsForbidden')).toEqual(CASES.workflowsForbidden.imports);
    expect(firstError('workflowsForbidden')).toMatch(/may import values only from @temporalio\/workflow/);
  });

  test('allows @temporalio/workflow, other workflows, domain/* and type-only imports of anything', () => {
    expect(flagged('workflowsAllowed')).toEqual([]);
  });
});

test('the layer rules stay out of other folders', () => {
  for (const key of Object.keys(CASES).filter((k) => k.startsWith('outside:'))) {
    expect({ key, flagged: flagged(key) }).toEqual({ key, flagged: [] });
  }
});
