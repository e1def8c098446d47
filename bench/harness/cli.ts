// Command-line flags, read the same way by every benchmark: node's parseArgs, --help prints the usage
// (exit 0), an unknown flag or a wrong value prints what is wrong and the usage (exit 2).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadEnv, type Env } from '../../config/env';

type FlagSpec = NonNullable<ParseArgsConfig['options']>;

export function parseFlags<const O extends FlagSpec>(usage: string, spec: O) {
  const fail = (m: string): never => {
    console.error(`${m}\n${usage}`);
    process.exit(2);
  };
  let values!: ReturnType<typeof parseArgs<{ options: O }>>['values'];
  try {
    ({ values } = parseArgs({ options: spec }));
  } catch (err) {
    fail((err as Error).message);
  }
  if ((values as { help?: boolean }).help) {
    console.log(usage);
    process.exit(0);
  }
  /** An integer flag of at least `min`; `100_000` reads as 100000. */
  const int = (name: string, v: string | boolean | undefined, min: number): number => {
    const n = Number(String(v).replace(/_/g, ''));
    if (!Number.isInteger(n) || n < min) fail(`--${name} must be an integer >= ${min}`);
    return n;
  };
  let env: Env;
  try {
    env = loadEnv();
  } catch (err) {
    return fail((err as Error).message);
  }
  return { values, fail, int, env };
}
