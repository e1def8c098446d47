// A JSON string holding U+0000 is valid JSON that PostgreSQL text cannot store: it is refused with a 400
// naming the field, before any route or database sees it (schemathesis found it as a 500 on declare).
import { startStack, type Stack } from '../helpers/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ name: 'nul-character', workers: [] });
});
afterAll(() => stack?.stop());

test('a NUL character anywhere in a JSON body is a 400 naming the field, and nothing is written', async () => {
  const res = await stack.api('commander')
    .post('/v1/incidents', { title: 'bad\u0000title', severity: 'SEV3', components: ['payments'] })
    .expect(400);
  expect(res.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: { fields: [{ field: 'title' }] } });
  const nested = await stack.api('service').post('/v1/reports', { reporter: 'a', contact: 'b', summary: 'ok', extra: ['x', 'y\u0000'] }).expect(400);
  expect(nested.body.error.details.fields[0].field).toBe('extra.1');
  expect(await stack.db.incident.count()).toBe(0);
});
