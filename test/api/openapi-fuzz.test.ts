// The OpenAPI document is exact: schemathesis (pinned, .tools/schemathesis-venv, see
// scripts/schemathesis.ts and schemathesis.toml) runs every operation of /v1/openapi.json against the
// app on a real Temporal and PostgreSQL with `--checks all`, and any finding fails this test.
// KEEL_FUZZ_MAX_EXAMPLES (default 10) and KEEL_FUZZ_SEED (default fixed, `random` for a new one) tune
// it; `npm run api:fuzz` runs the same by hand against `npm run dev`, with more examples.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { resolveSchemathesis, runSchemathesis } from '../../scripts/schemathesis';
import { startStack, type Stack } from '../helpers/stack';

const MAX_EXAMPLES = Number(process.env.KEEL_FUZZ_MAX_EXAMPLES ?? 10);
const SEED = process.env.KEEL_FUZZ_SEED === 'random' ? undefined : Number(process.env.KEEL_FUZZ_SEED ?? 20261202);

let stack: Stack;
let server: Server;
let baseUrl: string;

beforeAll(async () => {
  // First run on a machine: a venv and a pip install (about a minute).
  await resolveSchemathesis({ install: true, log: (m) => process.stderr.write(`[openapi-fuzz] ${m}\n`) });
  stack = await startStack({ name: 'openapi-fuzz' });
  server = await new Promise<Server>((resolve) => {
    const s = stack.app.listen(0, '127.0.0.1', () => resolve(s));
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 300_000);

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await stack?.stop();
});

test('schemathesis --checks all against the running API finds nothing', async () => {
  const result = await runSchemathesis({
    baseUrl,
    apiKey: stack.keys.operator,
    maxExamples: MAX_EXAMPLES,
    seed: SEED,
    onOutput: () => undefined,
  });
  const summary = result.output.slice(result.output.lastIndexOf('SUMMARY') - 60);
  // The whole report on a finding (each with its request as curl and the response). On success only a
  // line of our own: schemathesis's summary ends in a pytest-style "== N warnings in Ns ==" banner,
  // which log readers take for a test run that ran no test.
  const tested = /Tested: (\d+)/.exec(result.output)?.[1];
  const cases = /(\d+) generated, (\d+) passed/.exec(result.output);
  process.stderr.write(
    result.code !== 0
      ? `${result.output}\n`
      : `[openapi-fuzz] schemathesis found nothing: ${tested ?? '?'} operations tested, ${cases?.[2] ?? '?'} of ${cases?.[1] ?? '?'} generated cases passed\n`,
  );
  expect({ exitCode: result.code, summary: result.code === 0 ? 'ok' : summary }).toEqual({ exitCode: 0, summary: 'ok' });
  expect(result.output).toMatch(/Tested: \d+/);
}, 480_000);
