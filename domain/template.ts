// Campaign templates in Liquid (liquidjs), the language Braze, Customer.io and Shopify use. Pure (no
// I/O: the tags that read files are removed), but NOT workflow-safe: liquidjs is not bundled into the
// workflow sandbox, so only the API's services and the activities import this file, never workflows/*.
//
// One engine, configured once:
// - the variables are firstName and promoCode; any other is refused when the campaign is submitted
//   (a static walk of the parsed template), as is a property other than `.size` on them;
// - an allow-list of tags and filters: what a customer message needs, nothing that reads files
//   (include/render/layout) or needs state across messages (cycle/increment/decrement);
// - limits so no template costs more than a few milliseconds per message: parse size, render time,
//   and memory (liquidjs counts the characters its filters and ranges allocate; `capture` is counted
//   here, see BoundedCapture), plus a cap on the rendered text.
import { AssertionError, CaptureTag, Liquid, LiquidError, toValueSync, UndefinedVariableError, type Context, type Template } from 'liquidjs';
import type { CampaignTemplate } from './campaign';

export const TEMPLATE_VARIABLES = ['firstName', 'promoCode'] as const;
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];
export type TemplateValues = Record<TemplateVariable, string>;

/** The longest body and subject a campaign may have (the API refuses longer ones before parsing). */
export const MAX_BODY_CHARS = 10_000;
export const MAX_SUBJECT_CHARS = 300;

export const TEMPLATE_LIMITS = {
  /** Wall time of one render (one subject or one body for one recipient), tried up to 3 times (renderField). */
  renderMs: 20,
  /** Characters allocated by filters, ranges and captures in one render. */
  memory: 200_000,
  /** Characters of one rendered subject or body. */
  outputChars: 100_000,
  /** Tags inside tags: a message needs a few; hundreds cost milliseconds per message and more to check. */
  nesting: 20,
} as const;

export const ALLOWED_TAGS = ['if', 'unless', 'case', 'for', 'break', 'continue', 'assign', 'capture', 'echo', 'liquid', 'raw', 'comment', '#'] as const;
/** Known to Liquid but refused here (a clearer message than "unknown tag"). */
const REFUSED_TAGS = ['include', 'render', 'layout', 'block', 'tablerow', 'cycle', 'increment', 'decrement'];

export const ALLOWED_FILTERS = [
  'default', 'upcase', 'downcase', 'capitalize', 'append', 'prepend', 'strip', 'lstrip', 'rstrip', 'strip_newlines', 'strip_html',
  'normalize_whitespace', 'truncate', 'truncatewords', 'replace', 'replace_first', 'replace_last', 'remove', 'remove_first',
  'remove_last', 'slice', 'split', 'join', 'first', 'last', 'size', 'escape', 'escape_once', 'url_encode', 'newline_to_br',
  'plus', 'minus', 'times', 'divided_by', 'modulo', 'round', 'ceil', 'floor', 'abs', 'at_least', 'at_most', 'date',
] as const;

/** Sample values for checking a template and for previews: never a real promo code. */
export const SAMPLE_VALUES: TemplateValues = { firstName: 'Alex', promoCode: 'PROMO-PREVIEW' };

export type TemplateField = 'template.subject' | 'template.body';

export interface TemplateProblem {
  field: TemplateField;
  message: string;
  /** 1-based, within that field's text, when the problem has a place. */
  line?: number;
  column?: number;
}

/** A template Keel refuses: every problem found (at most one per field). */
export class TemplateError extends Error {
  constructor(readonly problems: TemplateProblem[]) {
    super(problems.map((p) => `${p.field}: ${p.message}${p.line ? ` (line ${p.line}, column ${p.column})` : ''}`).join('; '));
    this.name = 'TemplateError';
  }
}

export interface CompiledTemplate {
  subject?: Template[];
  body: Template[];
  /** promoCode is read somewhere (an `if` branch counts): the campaign needs a promo pool. */
  usesPromoCode: boolean;
}

/** capture as liquidjs has it, with the captured text counted against the memory limit (it is not, upstream). */
class BoundedCapture extends CaptureTag {
  override *render(ctx: Context): Generator<unknown, void, string> {
    yield* super.render(ctx);
    const captured: unknown = (ctx.bottom() as Record<string, unknown>)[this.variable];
    if (typeof captured === 'string') ctx.memoryLimit.use(captured.length);
  }
}

const engine = new Liquid({
  strictVariables: true,
  strictFilters: true,
  ownPropertyOnly: true,
  parseLimit: MAX_BODY_CHARS,
  renderLimit: TEMPLATE_LIMITS.renderMs,
  memoryLimit: TEMPLATE_LIMITS.memory,
  // The API's preview and the workers render `date` alike, whatever their machines' zones.
  timezoneOffset: 0,
});
for (const name of Object.keys(engine.tags)) if (!(ALLOWED_TAGS as readonly string[]).includes(name)) delete engine.tags[name];
for (const name of Object.keys(engine.filters)) if (!(ALLOWED_FILTERS as readonly string[]).includes(name)) delete engine.filters[name];
engine.registerTag('capture', BoundedCapture);

const position = (err: unknown): { line?: number; column?: number } => {
  const pos = err instanceof LiquidError ? err.token?.getPosition?.() : undefined;
  return pos ? { line: pos[0], column: pos[1] } : {};
};

/** liquidjs's message without the ", line:1, col:2" it appends (the position is reported apart). */
const bare = (err: unknown) => (err instanceof Error ? err.message : String(err)).replace(/, line:\d+, col:\d+$/, '');

function parseProblem(field: TemplateField, err: unknown): TemplateProblem {
  const msg = bare(err);
  let m: RegExpMatchArray | null;
  let message: string;
  if (err instanceof AssertionError && /parse length limit/.test(msg)) message = `longer than ${MAX_BODY_CHARS} characters`;
  else if ((m = /^undefined filter: (.+)$/.exec(msg))) message = `unknown filter "${m[1]}"; allowed: ${ALLOWED_FILTERS.join(', ')}`;
  else if ((m = /^tag "(.+)" not found$/.exec(msg))) {
    message = REFUSED_TAGS.includes(m[1])
      ? `tag "${m[1]}" is not allowed; allowed tags: ${ALLOWED_TAGS.join(', ')}`
      : `unknown tag "${m[1]}"; allowed tags: ${ALLOWED_TAGS.join(', ')}`;
  } else if (/Maximum call stack/.test(msg)) message = 'nested too deeply';
  else message = `Liquid syntax error: ${msg}`;
  return { field, message, ...position(err) };
}

function renderProblem(field: TemplateField, err: unknown): TemplateProblem {
  const msg = bare(err);
  let message: string;
  let m: RegExpMatchArray | null;
  if (err instanceof UndefinedVariableError && (m = /^undefined variable: (.+)$/.exec(msg))) message = `unknown variable "${m[1]}"`;
  else if (/template render limit exceeded/.test(msg)) message = `takes longer than ${TEMPLATE_LIMITS.renderMs} ms to render`;
  else if (/memory alloc limit exceeded|Invalid string length/.test(msg)) message = `needs more than ${TEMPLATE_LIMITS.memory} characters of memory to render`;
  else message = `cannot be rendered: ${msg}`;
  return { field, message, ...position(err) };
}

/** Variables the template reads that Keel does not fill (anything but firstName, promoCode and their .size). */
function variableProblem(field: TemplateField, tpl: Template[]): TemplateProblem | undefined {
  const { globals } = engine.analyzeSync(tpl, { partials: false });
  for (const uses of Object.values(globals)) {
    for (const v of uses) {
      const [root, ...path] = v.segments;
      const known = (TEMPLATE_VARIABLES as readonly unknown[]).includes(root) && (path.length === 0 || (path.length === 1 && path[0] === 'size'));
      if (!known) {
        return { field, message: `unknown variable "${v.toString()}"; known: ${TEMPLATE_VARIABLES.join(', ')}`, line: v.location.row, column: v.location.col };
      }
    }
  }
  return undefined;
}

/** The first tag nested deeper than the limit, if any (children() is how liquidjs's own analysis walks). */
function tooDeep(tpls: Template[], level = 1): Template | undefined {
  for (const t of tpls) {
    if (!t.children) continue;
    if (level > TEMPLATE_LIMITS.nesting) return t;
    const found = tooDeep(toValueSync<Template[]>(t.children(false, true)), level + 1);
    if (found) return found;
  }
  return undefined;
}

function readsPromoCode(tpl: Template[]): boolean {
  return 'promoCode' in engine.analyzeSync(tpl, { partials: false }).globals;
}

function compileField(field: TemplateField, text: string): { tpl?: Template[]; problem?: TemplateProblem } {
  let tpl: Template[];
  try {
    tpl = engine.parse(text);
  } catch (err) {
    return { problem: parseProblem(field, err) };
  }
  const deep = tooDeep(tpl);
  if (deep) {
    const [line, column] = deep.token.getPosition();
    return { problem: { field, message: `tags nested more than ${TEMPLATE_LIMITS.nesting} deep`, line, column } };
  }
  try {
    const problem = variableProblem(field, tpl);
    return problem ? { problem } : { tpl };
  } catch (err) {
    // The analysis recurses like the parser did; a template nested deep enough to break it is refused.
    return { problem: parseProblem(field, err) };
  }
}

/** Parse and check both fields (syntax, tags, filters, variables). Throws TemplateError naming every refused field. */
export function compileTemplate(t: CampaignTemplate): CompiledTemplate {
  const subject = t.subject === undefined ? undefined : compileField('template.subject', t.subject);
  const body = compileField('template.body', t.body);
  const problems = [subject?.problem, body.problem].filter((p): p is TemplateProblem => !!p);
  if (problems.length) throw new TemplateError(problems);
  return {
    subject: subject?.tpl,
    body: body.tpl!,
    usesPromoCode: readsPromoCode(body.tpl!) || (subject?.tpl ? readsPromoCode(subject.tpl) : false),
  };
}

/**
 * Attempts of one render when it hits the time limit. The limit is wall time, so a garbage-collection
 * pause or the OS scheduling another process mid-render (a loaded 2-core machine did: 4 of 100,000
 * "Hello {{firstName}}" messages failed) can exceed it for a template that costs microseconds. A template
 * that really is too slow fails every attempt; a pause does not repeat three times in a row.
 */
const RENDER_ATTEMPTS = 3;

function renderField(field: TemplateField, tpl: Template[], values: TemplateValues): string {
  let out: unknown;
  for (let attempt = 1; ; attempt++) {
    try {
      out = engine.renderSync(tpl, { ...values });
      break;
    } catch (err) {
      if (attempt < RENDER_ATTEMPTS && /template render limit exceeded/.test(bare(err))) continue;
      throw new TemplateError([renderProblem(field, err)]);
    }
  }
  const text = String(out);
  if (text.length > TEMPLATE_LIMITS.outputChars) {
    throw new TemplateError([{ field, message: `renders to more than ${TEMPLATE_LIMITS.outputChars} characters` }]);
  }
  return text;
}

/** One recipient's message. Throws TemplateError when a limit is hit (or the template cannot be rendered). */
export function renderTemplate(c: CompiledTemplate, values: TemplateValues): { subject?: string; body: string } {
  return {
    ...(c.subject ? { subject: renderField('template.subject', c.subject, values) } : {}),
    body: renderField('template.body', c.body, values),
  };
}

/**
 * What a submit checks: compile, then render once with the sample values and once with no first name,
 * so a template that only fails at render time (a limit hit whatever the recipient) is refused
 * before anything is sent. Throws TemplateError.
 */
export function checkTemplate(t: CampaignTemplate): CompiledTemplate {
  const c = compileTemplate(t);
  renderTemplate(c, SAMPLE_VALUES);
  renderTemplate(c, { ...SAMPLE_VALUES, firstName: '' });
  return c;
}
