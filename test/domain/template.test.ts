// Campaign templates in Liquid: what renders, what is refused at submit (with the field, line and
// column), and the limits that keep a hostile template cheap. Pure: no services.
import {
  checkTemplate,
  compileTemplate,
  renderTemplate,
  TemplateError,
  type TemplateProblem,
} from '../../domain/template';
import type { CampaignTemplate } from '../../domain/campaign';

const values = { firstName: 'Ann', promoCode: 'CODE-1' };
const render = (body: string, v = values, subject?: string) => renderTemplate(compileTemplate({ body, subject }), v);

/** The problems checkTemplate reports for a template (fails the test when it accepts it). */
function problems(t: CampaignTemplate): TemplateProblem[] {
  try {
    checkTemplate(t);
  } catch (err) {
    if (err instanceof TemplateError) return err.problems;
    throw err;
  }
  throw new Error(`accepted: ${JSON.stringify(t)}`);
}
const problem = (body: string) => problems({ body })[0];

describe('rendering', () => {
  test('the existing {{firstName}} / {{promoCode}} templates render as before', () => {
    expect(render('Your code: {{promoCode}}', values, 'Hi {{firstName}}')).toEqual({ subject: 'Hi Ann', body: 'Your code: CODE-1' });
  });
  test('default: applies to an unknown (empty) first name only', () => {
    expect(render('Hi {{ firstName | default: "there" }}').body).toBe('Hi Ann');
    expect(render('Hi {{ firstName | default: "there" }}', { ...values, firstName: '' }).body).toBe('Hi there');
  });
  test('if / unless / case / for / assign / capture and filters work', () => {
    const body = [
      '{% if promoCode != "" %}code {{ promoCode | downcase }}{% endif %}',
      '{% unless firstName == "" %}!{% endunless %}',
      '{% case firstName %}{% when "Ann" %}A{% else %}B{% endcase %}',
      '{% for i in (1..3) %}{{ i }}{% unless forloop.last %},{% endunless %}{% endfor %}',
      '{% assign n = firstName | upcase %}{{ n }}',
      '{% capture c %}<{{ firstName.size }}>{% endcapture %}{{ c }}',
    ].join('|');
    expect(render(body).body).toBe('code code-1|!|A|1,2,3|ANN|<3>');
  });
  test('no subject renders no subject', () => {
    expect(render('x')).toEqual({ body: 'x' });
  });
  test('usesPromoCode: anywhere, an if branch or the subject included; not a local of the same name', () => {
    expect(compileTemplate({ body: '{% if false %}{{ promoCode }}{% endif %}' }).usesPromoCode).toBe(true);
    expect(compileTemplate({ body: 'x', subject: '{{ promoCode | upcase }}' }).usesPromoCode).toBe(true);
    expect(compileTemplate({ body: 'Hi {{ firstName }}' }).usesPromoCode).toBe(false);
    expect(compileTemplate({ body: '{% assign promoCode = "X" %}{{ promoCode }}' }).usesPromoCode).toBe(false);
  });
});

describe('refused at submit', () => {
  test('an unknown variable, with its field, line and column', () => {
    expect(problems({ subject: 'Hi', body: 'Hello\n  {{ lastName }}' })).toEqual([
      { field: 'template.body', message: expect.stringContaining('unknown variable "lastName"'), line: 2, column: 6 },
    ]);
  });
  test('an unknown variable inside an if, and a property other than .size', () => {
    expect(problem('{% if vip %}x{% endif %}').message).toMatch(/^unknown variable "vip"/);
    expect(problem('{{ firstName.foo }}').message).toMatch(/^unknown variable "firstName.foo"/);
    expect(problem('{{ forloop.index }}').message).toMatch(/^unknown variable "forloop.index"/);
  });
  test('an unknown filter, and one Liquid has but Keel does not allow', () => {
    expect(problem('{{ firstName | shout }}')).toMatchObject({ message: expect.stringMatching(/^unknown filter "shout"/), line: 1, column: 1 });
    expect(problem('{{ firstName | json }}').message).toMatch(/^unknown filter "json"/);
  });
  test.each(['include', 'render', 'layout'])('the %s tag (no file system)', (tag) => {
    expect(problem(`x\n{% ${tag} "other" %}`)).toEqual({ field: 'template.body', message: expect.stringMatching(new RegExp(`^tag "${tag}" is not allowed`)), line: 2, column: 1 });
  });
  test('an unknown tag', () => {
    expect(problem('{% shout %}').message).toMatch(/^unknown tag "shout"/);
  });
  test('a syntax error, with line and column', () => {
    expect(problem('line one\nline two {% if %}')).toMatchObject({ message: expect.stringMatching(/^Liquid syntax error/), line: 2, column: 15 });
    expect(problem('a\nb\n{% if firstName %}never closed')).toMatchObject({ message: expect.stringMatching(/not closed/), line: 3, column: 1 });
  });
  test('tags nested deeper than 20, at the tag that goes too deep', () => {
    const nested = (n: number) => `${'{% if firstName %}'.repeat(n)}x${'{% endif %}'.repeat(n)}`;
    expect(render(nested(20)).body).toBe('x');
    expect(problem(nested(21))).toEqual({ field: 'template.body', message: 'tags nested more than 20 deep', line: 1, column: 1 + 18 * 20 });
  });
  test('both fields at once, each named', () => {
    expect(problems({ subject: '{{ nope }}', body: '{{ firstName | nope }}' }).map((p) => p.field)).toEqual(['template.subject', 'template.body']);
  });
});

describe('the render time limit and a paused process', () => {
  afterEach(() => jest.restoreAllMocks());
  // The clock jumps 50 ms inside the first render, as a GC pause or a preempted process does: the
  // limit is wall time, so that render fails; the next attempt, unpaused, renders the message.
  test('one pause mid-render does not fail a cheap message', () => {
    const c = checkTemplate({ body: 'Hello {{ firstName }}{% for i in (1..3) %}!{% endfor %}' });
    const now = performance.now.bind(performance);
    let calls = 0;
    jest.spyOn(performance, 'now').mockImplementation(() => now() + (++calls > 1 && calls < 4 ? 50 : 0));
    expect(renderTemplate(c, values).body).toBe('Hello Ann!!!');
    expect(calls).toBeGreaterThan(3);
  });
  test('a clock that is always past the limit still fails, after three attempts, with the time-limit reason', () => {
    const c = checkTemplate({ body: 'Hello {{ firstName }}{% for i in (1..3) %}!{% endfor %}' });
    const now = performance.now.bind(performance);
    let calls = 0;
    jest.spyOn(performance, 'now').mockImplementation(() => now() + (++calls % 2 === 0 ? 50 : 0));
    let thrown: unknown;
    try {
      renderTemplate(c, values);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(TemplateError);
    expect((thrown as TemplateError).problems[0].message).toMatch(/takes longer than 20 ms/);
  });
});

describe('hostile templates are answered fast', () => {
  const hostile: Array<[string, string, RegExp]> = [
    ['{{ followed by 3,000 spaces', `{{${' '.repeat(3000)}`, /not closed/],
    ['a tag opener followed by 3,000 spaces', `{%${' '.repeat(3000)}`, /not closed/],
    ['a for over a hundred million', '{% for i in (1..100000000) %}x{% endfor %}', /memory/],
    ['nested loops', '{% for a in (1..300) %}{% for b in (1..300) %}{% for c in (1..300) %}x{% endfor %}{% endfor %}{% endfor %}', /longer than|memory/],
    ['a doubling append', '{% assign s = "xxxxxxxxxx" %}{% for i in (1..40) %}{% assign s = s | append: s %}{% endfor %}{{ s }}', /memory/],
    ['a doubling capture', '{% capture s %}xxxxxxxxxx{% endcapture %}{% for i in (1..40) %}{% capture s %}{{ s }}{{ s }}{% endcapture %}{% endfor %}{{ s }}', /memory/],
    ['a long append chain', `{{ "x"${' | append: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"'.repeat(180)} }}`, /memory|characters/],
    ['output over the cap', `{% for i in (1..1500) %}${'x'.repeat(100)}{% endfor %}`, /more than/],
    ['3,000 open parentheses', `{% if ${'('.repeat(3000)} %}{% endif %}`, /./],
    ['300 nested ifs', `${'{% if firstName %}'.repeat(300)}x${'{% endif %}'.repeat(300)}`, /nested more than 20 deep/],
  ];
  test.each(hostile)('%s: refused or bounded within 500 ms', (_name, body, why) => {
    const started = performance.now();
    let outcome: string;
    try {
      renderTemplate(checkTemplate({ body }), values);
      outcome = 'never';
    } catch (err) {
      if (!(err instanceof TemplateError)) throw err;
      outcome = err.problems[0].message;
    }
    expect(performance.now() - started).toBeLessThan(500);
    expect(outcome).toMatch(why);
  });
  test('a template cheap for the sample name but over the output cap for a long one: accepted, then that render throws TemplateError', () => {
    const c = checkTemplate({ body: `{{ firstName | replace: "A", "${'x'.repeat(2000)}" }}` });
    expect(renderTemplate(c, values).body).toBe('Ann'.replace('A', 'x'.repeat(2000)));
    let thrown: unknown;
    try {
      renderTemplate(c, { ...values, firstName: 'A'.repeat(100) });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(TemplateError);
    expect((thrown as TemplateError).problems).toEqual([{ field: 'template.body', message: 'renders to more than 100000 characters' }]);
  });
});
