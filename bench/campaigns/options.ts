// bench/campaigns.ts's command line.
import { parseFlags } from '../harness/cli';

const USAGE = `usage: npx tsx bench/campaigns.ts [options]
  --users N             users (bulk insert) and the size of each throughput campaign (default 100000)
  --configs LIST        page size x concurrency settings to try, e.g. 500x4,1000x4,1000x8 (default)
  --warmup N            uncounted warm-up campaign over the first N users before the measurements
                        (default 5000; 0 = none)
  --naive-n N           recipients the naive one-at-a-time loop sends (default 10000; extrapolated to
                        --users when smaller; 0 = skip)
  --rate R              ratePerSecond for the rate test (default 500)
  --rate-seconds S      the rate campaign's audience is R x S users (default 20)
  --rate-mode M         campaign (the campaign's ratePerSecond), provider (KEEL_RATE_LIMIT_EMAIL on the
                        worker process, campaign without a rate) or both (default)
  --bookings N          bookings starting during the isolation campaign (default 300)
  --iso-rate R          give the isolation campaign ratePerSecond R (default: none, full speed)
  --iso-api-rate R      API requests per second through the isolation window, with and without the
                        campaign: bookings made ahead and reads, alternately (default 20; 0 = none)
  --iso-window S        their starts are spread over S seconds from 3 s after the submit (default: 70 % of
                        the throughput phase's time for --settings, else 40)
  --settings PxC        settings for the rate and isolation campaigns (default: KEEL_CAMPAIGN_PAGE_SIZE x
                        KEEL_CAMPAIGN_CONCURRENCY from the environment, 500x4 unset)
  --worker-pool-size P  DATABASE_POOL_SIZE of the worker processes (default: environment, else 10)
  --timeout S           give up on one campaign after S seconds (default 900)
  --skip-throughput --skip-naive --skip-plans --skip-rate --skip-isolation --skip-baseline --skip-profile
  --keep-logs           keep the worker processes' logs (their path is printed)
  --wait-quiet S        first wait up to S seconds for the machine to be quiet (< 0.3 cores busy over 5 s;
                        on a shared host other people's jobs skew every figure) (default 0)
Experiments (printed as such; not for the reference figures):
  --experiment LIST     free-codes-index: CREATE INDEX ON promo_codes (pool_id, code) WHERE assigned_at IS NULL
                        (what a migration would add)
  --worker-node-args A  extra node flags for the worker processes, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
Env: TEMPORAL_ADDRESS (else a dev server is started), DATABASE_URL (else a throwaway PostgreSQL).`;

/** A campaign's page size x concurrency (what KEEL_CAMPAIGN_PAGE_SIZE / KEEL_CAMPAIGN_CONCURRENCY give the API). */
export interface Settings {
  pageSize: number;
  concurrency: number;
}
export const settingsName = (s: Settings) => `${s.pageSize}x${s.concurrency}`;

const EXPERIMENTS = ['free-codes-index'] as const;

export function options() {
  const { values, fail, int, env } = parseFlags(USAGE, {
    users: { type: 'string', default: '100000' },
    configs: { type: 'string', default: '500x4,1000x4,1000x8' },
    warmup: { type: 'string', default: '5000' },
    'naive-n': { type: 'string', default: '10000' },
    rate: { type: 'string', default: '500' },
    'rate-seconds': { type: 'string', default: '20' },
    'rate-mode': { type: 'string', default: 'both' },
    bookings: { type: 'string', default: '300' },
    'iso-window': { type: 'string' },
    'iso-rate': { type: 'string' },
    'iso-api-rate': { type: 'string', default: '20' },
    settings: { type: 'string' },
    'worker-pool-size': { type: 'string' },
    timeout: { type: 'string', default: '900' },
    'skip-throughput': { type: 'boolean', default: false },
    'skip-naive': { type: 'boolean', default: false },
    'skip-rate': { type: 'boolean', default: false },
    'skip-isolation': { type: 'boolean', default: false },
    'skip-baseline': { type: 'boolean', default: false },
    'skip-profile': { type: 'boolean', default: false },
    'skip-plans': { type: 'boolean', default: false },
    experiment: { type: 'string', default: '' },
    'worker-node-args': { type: 'string', default: '' },
    'keep-logs': { type: 'boolean', default: false },
    'wait-quiet': { type: 'string', default: '0' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  const setting = (s: string, what: string): Settings => {
    const m = /^(\d+)x(\d+)$/.exec(s.trim());
    if (!m || Number(m[1]) < 1 || Number(m[1]) > 5000 || Number(m[2]) < 1 || Number(m[2]) > 64) {
      return fail(`${what}: "${s}" is not PAGExCONCURRENCY (page 1-5000, concurrency 1-64), e.g. 500x4`);
    }
    return { pageSize: Number(m[1]), concurrency: Number(m[2]) };
  };
  const rateMode = values['rate-mode'];
  if (rateMode !== 'campaign' && rateMode !== 'provider' && rateMode !== 'both') fail('--rate-mode must be campaign, provider or both');
  const users = int('users', values.users, 1);
  const experiments = values.experiment.split(',').map((e) => e.trim()).filter(Boolean);
  for (const e of experiments) if (!(EXPERIMENTS as readonly string[]).includes(e)) fail(`--experiment: unknown "${e}"; known: ${EXPERIMENTS.join(', ')}`);
  return {
    users,
    configs: values.configs.split(',').filter(Boolean).map((c) => setting(c, '--configs')),
    warmup: Math.min(users, int('warmup', values.warmup, 0)),
    naiveN: Math.min(users, int('naive-n', values['naive-n'], 0)),
    rate: int('rate', values.rate, 1),
    rateSeconds: int('rate-seconds', values['rate-seconds'], 1),
    rateModes: (rateMode === 'both' ? ['campaign', 'provider'] : [rateMode]) as Array<'campaign' | 'provider'>,
    bookings: int('bookings', values.bookings, 1),
    isoRate: values['iso-rate'] ? int('iso-rate', values['iso-rate'], 1) : undefined,
    isoApiRate: int('iso-api-rate', values['iso-api-rate'], 0),
    isoWindowMs: values['iso-window'] ? int('iso-window', values['iso-window'], 5) * 1000 : undefined,
    settings: values.settings
      ? setting(values.settings, '--settings')
      : { pageSize: env.KEEL_CAMPAIGN_PAGE_SIZE, concurrency: env.KEEL_CAMPAIGN_CONCURRENCY },
    workerPoolSize: values['worker-pool-size'] ? int('worker-pool-size', values['worker-pool-size'], 1) : env.DATABASE_POOL_SIZE,
    timeoutMs: int('timeout', values.timeout, 10) * 1000,
    skipThroughput: values['skip-throughput'],
    skipNaive: values['skip-naive'],
    skipRate: values['skip-rate'],
    skipIsolation: values['skip-isolation'],
    skipBaseline: values['skip-baseline'],
    profile: !values['skip-profile'],
    skipPlans: values['skip-plans'],
    experiments: new Set(experiments as Array<(typeof EXPERIMENTS)[number]>),
    workerNodeArgs: values['worker-node-args'].split(/\s+/).filter(Boolean),
    keepLogs: values['keep-logs'],
    waitQuietMs: int('wait-quiet', values['wait-quiet'], 0) * 1000,
    env,
  };
}
export type Options = ReturnType<typeof options>;
