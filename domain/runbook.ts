// Runbooks as data: the schema of one runbooks/<severity>.yaml file and its conversion to the
// RunbookSnapshot an incident keeps for its whole life. Pure and workflow-safe (no fs, no crypto, no
// clock): reading the files, hashing them and YAML parsing live in runbooks/load.ts.
//
// File shape (unknown keys are rejected at every level, so a typo never silently drops a step):
//   version: 3                 # bumped by hand when the checklist changes meaningfully
//   severity: SEV1
//   steps:
//     - { id: check-database, type: auto, check: database, title: Database answers }
//     - id: first-public-update
//       type: manual
//       title: Assign a communications lead and post the first public update
//       instructions: ...
//       role: communications
//       timeLimit: 10m         # optional; escalates to commander and deputy when not done in time
import { z } from 'zod';
import { parseDurationMs } from '../config/durations';
import {
  CHECK_NAMES,
  INCIDENT_ROLES,
  SEVERITIES,
  type RunbookSnapshot,
  type RunbookStep,
  type Severity,
} from './incident';

/** Longest time limit a step may carry; anything longer is not an incident step. */
export const MAX_STEP_TIME_LIMIT_MS = 7 * 24 * 3_600_000;
const STEP_ID = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

const typeName = (input: unknown): string => (input === null ? 'null' : Array.isArray(input) ? 'a list' : typeof input);

/** A required text field with messages a runbook author understands. */
function text(max: number) {
  return z
    .string({ error: (iss) => (iss.input === undefined ? 'is required' : `must be text, not ${typeName(iss.input)}`) })
    .trim()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`);
}

function oneOf<T extends readonly [string, ...string[]]>(values: T, what: string) {
  return z.enum(values, {
    error: (iss) =>
      iss.input === undefined ? 'is required' : `unknown ${what} ${JSON.stringify(iss.input)} (expected one of: ${values.join(', ')})`,
  });
}

const stepId = z
  .string({ error: (iss) => (iss.input === undefined ? 'is required' : `must be text, not ${typeName(iss.input)}`) })
  .max(60, 'must be at most 60 characters')
  .regex(STEP_ID, 'must be kebab-case (lowercase letters, digits and single dashes, e.g. "post-first-update")');

const timeLimit = z
  .string({ error: (iss) => `must be a duration such as "10m" or "1h", not ${typeName(iss.input)} ${JSON.stringify(iss.input)}` })
  .transform((s, ctx) => {
    let ms: number;
    try {
      ms = parseDurationMs(s);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
    if (ms <= 0 || ms > MAX_STEP_TIME_LIMIT_MS) {
      ctx.addIssue({ code: 'custom', message: `must be more than 0 and at most 7d (got "${s}")` });
      return z.NEVER;
    }
    return ms;
  });

export const AutoStepSchema = z.strictObject({
  id: stepId,
  type: z.literal('auto'),
  title: text(200),
  check: oneOf(CHECK_NAMES, 'check'),
});

export const ManualStepSchema = z.strictObject({
  id: stepId,
  type: z.literal('manual'),
  title: text(200),
  instructions: text(4000),
  role: oneOf(INCIDENT_ROLES, 'role'),
  timeLimit: timeLimit.optional(),
});

export const RunbookStepSchema = z.discriminatedUnion('type', [AutoStepSchema, ManualStepSchema], {
  error: (iss) =>
    typeof iss.input !== 'object' || iss.input === null || Array.isArray(iss.input)
      ? `must be a step (a mapping with id, type, title...), not ${typeName(iss.input)}`
      : iss.code === 'invalid_union'
        ? 'type must be "auto" (an automated check) or "manual" (a task for a role)'
        : undefined,
});

export const RunbookFileSchema = z.strictObject(
  {
  version: z.number({ error: (iss) => (iss.input === undefined ? 'is required' : 'must be a whole number') })
    .int('must be a whole number')
    .positive('must be at least 1'),
  severity: oneOf(SEVERITIES, 'severity'),
  steps: z
    .array(RunbookStepSchema, { error: (iss) => (iss.input === undefined ? 'is required' : 'must be a list of steps') })
    .min(1, 'must hold at least one step')
    .max(100, 'must hold at most 100 steps')
    // `when`: duplicates are reported even when other steps have problems, so one run lists all.
    .superRefine(
      (steps, ctx) => {
        const first = new Map<string, number>();
        (steps as unknown[]).forEach((s, i) => {
          const id = s && typeof s === 'object' ? (s as { id?: unknown }).id : undefined;
          if (typeof id !== 'string') return;
          const seen = first.get(id);
          if (seen === undefined) first.set(id, i);
          else ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate step id "${id}" (already used by steps[${seen}])` });
        });
      },
      { when: (payload) => Array.isArray(payload.value) },
    ),
  },
  { error: (iss) => (iss.code === 'invalid_type' ? `must be a mapping with version, severity and steps, not ${typeName(iss.input)}` : undefined) },
);

export type RunbookFile = z.input<typeof RunbookFileSchema>;

function toStep(s: z.output<typeof RunbookStepSchema>): RunbookStep {
  if (s.type === 'auto') return { id: s.id, kind: 'auto', title: s.title, check: s.check };
  return {
    id: s.id,
    kind: 'manual',
    title: s.title,
    instructions: s.instructions,
    role: s.role,
    ...(s.timeLimit !== undefined ? { timeLimitMs: s.timeLimit } : {}),
  };
}

/** `steps[3] "post-first-update".role` rather than `steps.3.role`: says which step to fix. */
function formatPath(path: readonly PropertyKey[], doc: unknown): string {
  if (path.length === 0) return 'top level';
  return path
    .map((key, i) => {
      if (typeof key !== 'number') return `${i === 0 ? '' : '.'}${String(key)}`;
      if (i === 1 && path[0] === 'steps') {
        const steps = (doc as { steps?: unknown })?.steps;
        const step: unknown = Array.isArray(steps) ? steps[key] : undefined;
        const id = step && typeof step === 'object' ? (step as { id?: unknown }).id : undefined;
        if (typeof id === 'string' && id) return `[${key}] ${JSON.stringify(id)}`;
      }
      return `[${key}]`;
    })
    .join('');
}

export type RunbookValidation =
  | { ok: true; severity: Severity; declaredVersion: number; steps: RunbookStep[] }
  | { ok: false; problems: string[] };

/**
 * Validates one parsed runbook document. Problems are `<path>: <message>` lines, every one of them
 * (not only the first), so an author fixes the file in one go.
 */
export function validateRunbook(doc: unknown): RunbookValidation {
  const parsed = RunbookFileSchema.safeParse(doc);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      if (i.code === 'unrecognized_keys') {
        const keys = i.keys.map((k) => JSON.stringify(k)).join(', ');
        return `${formatPath(i.path, doc)}: unknown key${i.keys.length > 1 ? 's' : ''} ${keys}`;
      }
      return `${formatPath(i.path, doc)}: ${i.message}`;
    });
    return { ok: false, problems };
  }
  return { ok: true, severity: parsed.data.severity, declaredVersion: parsed.data.version, steps: parsed.data.steps.map(toStep) };
}

/** `<declared version>+<first 12 hex digits of the file's sha256>`: changes whenever the file does. */
export function runbookVersion(declaredVersion: number, contentSha256Hex: string): string {
  return `${declaredVersion}+${contentSha256Hex.slice(0, 12)}`;
}

/** Builds the snapshot an incident keeps; `contentSha256Hex` is the hash of the file's bytes. */
export function runbookSnapshot(v: Extract<RunbookValidation, { ok: true }>, contentSha256Hex: string): RunbookSnapshot {
  return { severity: v.severity, version: runbookVersion(v.declaredVersion, contentSha256Hex), steps: v.steps };
}
