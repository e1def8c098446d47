// Query results as CSV (RFC 4180: CRLF line ends, fields quoted when they hold a comma, quote or line
// break), for `Accept: text/csv` and `npm run playbook -- --csv`. Written by csv-stringify.
//
// Cells that a spreadsheet would run as a formula (starting with = + - @, tab or CR) are prefixed
// with a single quote: these files are opened in spreadsheets by customer service, and some values
// (names, messages) come from customers. JSON output is never altered.
import { stringify } from 'csv-stringify/sync';

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint') return v.toString();
  // Objects as JSON; numbers and booleans print the same either way.
  return JSON.stringify(v) ?? '';
}

export function toCsv(columns: string[], rows: Record<string, unknown>[]): string {
  return stringify([columns, ...rows.map((r) => columns.map((c) => cell(r[c])))], {
    record_delimiter: 'windows',
    escape_formulas: true,
  });
}
