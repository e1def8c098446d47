// A promo code upload, read and checked: JSON (codes.<i>) or CSV (one code per line, an optional first
// line "code", blank lines ignored, a value may be wrapped in double quotes). Every malformed code and
// every repeated one is reported in one 400 (lists capped, totals given): nothing is written unless
// the whole upload is good.
import { MAX_CODES_PER_POOL } from '../domain/campaign';
import { ApiError } from './errors';

/** How many problems a 400 lists; the totals are always given. */
export const MAX_LISTED_PROBLEMS = 100;

export const CODE = /^[A-Za-z0-9_-]{1,100}$/;
export const CODE_MESSAGE = 'must be 1-100 characters of A-Z, a-z, 0-9, _ or -';

/** The codes as read from the upload, and where each came from (for messages). */
export interface Upload {
  values: unknown[];
  /** `codes.3` for JSON, `line 7` for CSV. */
  where: (i: number) => string;
  csv: boolean;
}

const show = (v: unknown) => (typeof v === 'string' ? (v.length > 120 ? `${v.slice(0, 120)}...` : v) : v);

export function parseCsvCodes(text: string): Upload {
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/);
  const values: string[] = [];
  const lineNumbers: number[] = [];
  let sawFirst = false;
  lines.forEach((raw, i) => {
    let value = raw.trim();
    if (value === '') return;
    const quoted = /^"(.*)"$/.exec(value);
    if (quoted) value = quoted[1].trim();
    if (!sawFirst) {
      sawFirst = true;
      if (value.toLowerCase() === 'code') return; // header line
    }
    values.push(value);
    lineNumbers.push(i + 1);
  });
  return { values, where: (i) => `line ${lineNumbers[i]}`, csv: true };
}

export function jsonCodes(codes: unknown[]): Upload {
  return { values: codes, where: (i) => `codes.${i}`, csv: false };
}

/** Every malformed code and every repeated one, in one 400; the codes otherwise. */
export function checkCodes(upload: Upload): string[] {
  const { values, where, csv } = upload;
  const invalid: Array<{ field: string; code: unknown; message: string }> = [];
  // First index of each code; repeats (all indexes, first one included) only for codes seen twice.
  const first = new Map<string, number>();
  const repeats = new Map<string, number[]>();
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'string' || !CODE.test(v)) {
      const several = csv && typeof v === 'string' && /[,;\t]/.test(v);
      invalid.push({
        field: where(i),
        code: show(v),
        message: typeof v !== 'string' ? 'must be a string' : several ? 'one code per line: this line has several columns' : CODE_MESSAGE,
      });
      continue;
    }
    const at = first.get(v);
    if (at === undefined) first.set(v, i);
    else {
      const list = repeats.get(v);
      if (list) list.push(i);
      else repeats.set(v, [at, i]);
    }
  }
  const field = csv ? 'body' : 'codes';
  if (invalid.length === 0 && repeats.size === 0) {
    if (values.length === 0) {
      throw new ApiError(400, 'VALIDATION_FAILED', 'the upload contains no codes', { fields: [{ field, message: 'must contain at least one code' }] });
    }
    if (values.length > MAX_CODES_PER_POOL) {
      throw new ApiError(400, 'VALIDATION_FAILED', `at most ${MAX_CODES_PER_POOL.toLocaleString('en-US')} codes per pool (got ${values.length})`, {
        fields: [{ field, message: `must contain at most ${MAX_CODES_PER_POOL.toLocaleString('en-US')} codes` }],
      });
    }
    return values as string[];
  }
  const duplicates = [...repeats].map(([code, at]) => ({ code, count: at.length, at: at.slice(0, 5).map(where) }));
  const parts = [
    invalid.length ? `${invalid.length} invalid code${invalid.length === 1 ? '' : 's'} (first at ${invalid[0].field})` : '',
    duplicates.length
      ? `${duplicates.length} code${duplicates.length === 1 ? '' : 's'} appearing more than once: ${duplicates.slice(0, 5).map((d) => d.code).join(', ')}${duplicates.length > 5 ? ', ...' : ''}`
      : '',
  ].filter(Boolean);
  throw new ApiError(400, 'VALIDATION_FAILED', `${parts.join('; ')}; nothing was written`, {
    fields: invalid.slice(0, MAX_LISTED_PROBLEMS),
    invalidCount: invalid.length,
    duplicates: duplicates.slice(0, MAX_LISTED_PROBLEMS),
    duplicateCount: duplicates.length,
    truncated: invalid.length > MAX_LISTED_PROBLEMS || duplicates.length > MAX_LISTED_PROBLEMS,
  });
}
