// bench/bookings.ts's command line.
import { parseFlags } from '../harness/cli';

const USAGE = `usage: npm run bench -- [options]
  --n N                 bookings per side for the throughput comparison (default 2000)
  --concurrency C       requests / starts in flight (default 32)
  --warmup W            uncounted warm-up bookings per side (default 100)
  --rounds R            segments per side, run in ABBA order (default 2)
  --late-n N            bookings for the lateness measurement (default 2000)
  --late-window S       their start times are spread over S seconds (default 60)
  --late-margin S       lead time beyond the estimated creation time (default 15)
  --late-timeout S      how long after the window to wait for stragglers (default 120)
  --ramp LIST           starts per minute of the capacity curve, Keel and the floor each (default
                        500,1000,2000,4000; the --late-n point is the headline and is measured once)
  --connect-n LIST      bookings sharing one startsAt for "connect at start" (default 200,2000)
  --out DIR             where the JSON figures and the capacity chart are written (default .data/bench)
  --storm-rounds R      duplicate storm: rounds, each with a fresh booking id (default 20)
  --storm-size S        duplicate storm: identical POST /v1/bookings sent at once (default 50)
  --workers MODE        child (default) or inprocess
  --api-pool-size P     API database pool (default DATABASE_POOL_SIZE or 10, as api/main.ts)
  --worker-pool-size P  worker database pool (default DATABASE_POOL_SIZE or 10, as workers/main.ts)
  --api-log-level L     API pino level, written to /dev/null (default info, as production)
  --worker-overrides J  experiment: JSON WorkerOptions laid over workers/create.ts's, e.g.
                        '{"nonStickyToStickyPollRatio":1}' (printed; not for the reference figures)
  --temporal-db-file    experiment: own dev server on a SQLite file (WAL) instead of in-memory
  --status-seconds S    how long each status page phase drives its path (default 10)
  --skip-throughput --skip-storm --skip-lateness --skip-status --skip-diagnostics --skip-history --skip-ramp
  --skip-floor --skip-connect
Env: TEMPORAL_ADDRESS (else a dev server is started), DATABASE_URL (else a throwaway PostgreSQL).`;

export function options() {
  const { values, fail, int, env } = parseFlags(USAGE, {
    n: { type: 'string', default: '2000' },
    concurrency: { type: 'string', short: 'c', default: '32' },
    warmup: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '2' },
    'late-n': { type: 'string', default: '2000' },
    'late-window': { type: 'string', default: '60' },
    'late-margin': { type: 'string', default: '15' },
    'late-timeout': { type: 'string', default: '120' },
    ramp: { type: 'string', default: '500,1000,2000,4000' },
    'connect-n': { type: 'string', default: '200,2000' },
    out: { type: 'string', default: '.data/bench' },
    'storm-rounds': { type: 'string', default: '20' },
    'storm-size': { type: 'string', default: '50' },
    workers: { type: 'string', default: 'child' },
    'api-pool-size': { type: 'string' },
    'worker-pool-size': { type: 'string' },
    'api-log-level': { type: 'string', default: 'info' },
    'worker-overrides': { type: 'string', default: '' },
    'temporal-db-file': { type: 'boolean', default: false },
    'skip-throughput': { type: 'boolean', default: false },
    'skip-storm': { type: 'boolean', default: false },
    'skip-lateness': { type: 'boolean', default: false },
    'skip-status': { type: 'boolean', default: false },
    'status-seconds': { type: 'string', default: '10' },
    'skip-diagnostics': { type: 'boolean', default: false },
    'skip-history': { type: 'boolean', default: false },
    'skip-ramp': { type: 'boolean', default: false },
    'skip-floor': { type: 'boolean', default: false },
    'skip-connect': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.workers !== 'child' && values.workers !== 'inprocess') fail('--workers must be child or inprocess');
  let workerOverrides: Record<string, unknown> = {};
  try {
    if (values['worker-overrides']) workerOverrides = JSON.parse(values['worker-overrides']) as Record<string, unknown>;
  } catch (err) {
    fail(`--worker-overrides: ${(err as Error).message}`);
  }
  const list = (name: string, v: string) => v.split(',').filter(Boolean).map((x) => int(name, x.trim(), 1));
  return {
    n: int('n', values.n, 1),
    ramp: list('ramp', values.ramp),
    connectN: list('connect-n', values['connect-n']),
    out: values.out,
    skipRamp: values['skip-ramp'],
    skipFloor: values['skip-floor'],
    skipConnect: values['skip-connect'],
    concurrency: int('concurrency', values.concurrency, 1),
    warmup: int('warmup', values.warmup, 0),
    rounds: int('rounds', values.rounds, 1),
    lateN: int('late-n', values['late-n'], 1),
    lateWindowS: int('late-window', values['late-window'], 1),
    lateMarginS: int('late-margin', values['late-margin'], 0),
    lateTimeoutS: int('late-timeout', values['late-timeout'], 1),
    stormRounds: int('storm-rounds', values['storm-rounds'], 1),
    stormSize: int('storm-size', values['storm-size'], 2),
    workers: values.workers as 'child' | 'inprocess',
    apiPoolSize: values['api-pool-size'] ? int('api-pool-size', values['api-pool-size'], 1) : env.DATABASE_POOL_SIZE,
    workerPoolSize: values['worker-pool-size'] ? int('worker-pool-size', values['worker-pool-size'], 1) : env.DATABASE_POOL_SIZE,
    apiLogLevel: values['api-log-level'],
    workerOverrides,
    temporalDbFile: values['temporal-db-file'],
    skipThroughput: values['skip-throughput'],
    skipStorm: values['skip-storm'],
    skipLateness: values['skip-lateness'],
    skipStatus: values['skip-status'],
    statusSeconds: int('status-seconds', values['status-seconds'], 1),
    skipDiagnostics: values['skip-diagnostics'],
    skipHistory: values['skip-history'],
    env,
  };
}
export type Options = ReturnType<typeof options>;
