// Configuration is read from the environment once, validated, and passed down explicitly.
// Every default works on a laptop with `npm run dev`; production sets the variables in README.md.
import { z } from 'zod';
import { parseDurationList, parseDurationMs } from './durations';
import { providerEnvIssues, providerEnvSchema } from '../providers';
import { isValidTimeZone } from '../domain/business-day';

const duration = z.string().transform((s, ctx) => {
  try {
    return parseDurationMs(s);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

const durationList = z.string().transform((s, ctx) => {
  try {
    return parseDurationList(s);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const EnvSchema = z.object({
  ...providerEnvSchema.shape,
  NODE_ENV: z.string().default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('0.0.0.0'),
  /** PostgreSQL connection string. Unset: `npm run dev` serves an embedded PGlite under .data/. */
  DATABASE_URL: z.string().optional(),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  KEEL_DATA_DIR: z.string().default('.data'),
  TEMPORAL_ADDRESS: z.string().optional(),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_PORT: z.coerce.number().int().min(1).max(65535).default(7233),
  TEMPORAL_UI_PORT: z.coerce.number().int().min(1).max(65535).default(8233),
  /** Temporal Cloud: API key auth (implies TLS). */
  TEMPORAL_API_KEY: z.string().optional(),
  /** mTLS client certificate and key (PEM file paths), for a self-hosted cluster or Cloud mTLS. */
  TEMPORAL_TLS_CERT_PATH: z.string().optional(),
  TEMPORAL_TLS_KEY_PATH: z.string().optional(),
  TEMPORAL_TLS_CA_PATH: z.string().optional(),
  TEMPORAL_TLS: bool.optional(),
  /** Prefix for every task queue name, so tests (or tenants) sharing one server never steal work. */
  KEEL_TASK_QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_.-]*$/).default(''),
  /** Comma-separated `role:token` pairs. Unset: `npm run dev` generates keys and prints them. */
  KEEL_API_KEYS: z.string().optional(),
  KEEL_BODY_LIMIT: z.string().default('100kb'),
  KEEL_NO_SHOW_GRACE: duration.default(30 * 60_000),
  KEEL_REMINDERS_BEFORE_START: durationList.default([60 * 60_000, 15 * 60_000]),
  KEEL_REMINDERS_BEFORE_END: durationList.default([60 * 60_000, 15 * 60_000]),
  /**
   * Booking clock: wake this long before a due transition and arm a short final timer, so the due time
   * does not inherit the latency of the task that armed the long timer. Costs one more workflow task
   * per timed transition, which makes things worse when the workers are saturated; off by default,
   * worth turning on (e.g. 1500ms) where workflow-task capacity is ample (bench/README.md measures both).
   */
  KEEL_TIMER_EARLY_WAKE: duration.default(0),
  /** Deadline of an action's update (cancel, pause, complete a step...): then 503 WORKER_UNAVAILABLE. */
  KEEL_UPDATE_TIMEOUT: duration.pipe(z.number().int().min(100, 'must be at least 100ms').max(120_000, 'must be at most 2m')).default(5_000),
  /** Which workers this process hosts (comma-separated): bookings, notifications, incidents, ops. */
  KEEL_WORKERS: z.string().default('bookings,notifications,incidents,ops'),
  /** Components shown on the public status page, and the only ones an incident may name. */
  KEEL_STATUS_COMPONENTS: z
    .string()
    .default('booking-api,car-unlock,payments,notifications,customer-app')
    .transform((s) => s.split(',').map((c) => c.trim()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'component names are lowercase letters, digits and -')).min(1)),
  /** Recipients per campaign page (one activity), pages in flight per campaign, pages per workflow run. */
  KEEL_CAMPAIGN_PAGE_SIZE: z.coerce.number().int().min(1).max(5000).default(500),
  KEEL_CAMPAIGN_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  KEEL_CAMPAIGN_PAGES_PER_RUN: z.coerce.number().int().min(1).max(1000).default(100),
  /**
   * Messages per second for campaigns that set no ratePerSecond (0 = unlimited). 2,500/s sends 100,000
   * messages in about 45 s while booking transitions on the same 2-core machine stay on time
   * (bench/CAMPAIGNS.md); a campaign may still ask for more, or PATCH its rate to null to lift it.
   */
  KEEL_CAMPAIGN_DEFAULT_RATE: z.coerce.number().int().min(0).max(100_000).default(2500),
  /** Local hours in which marketing messages are deferred, `start-end` (24 h clock), e.g. 21-8. */
  KEEL_QUIET_HOURS: z
    .string()
    .default('21-8')
    .transform((s, ctx) => {
      const m = /^(\d{1,2})-(\d{1,2})$/.exec(s.trim());
      if (!m || Number(m[1]) > 23 || Number(m[2]) > 23 || m[1] === m[2]) {
        ctx.addIssue({ code: 'custom', message: 'use start-end hours, e.g. 21-8' });
        return z.NEVER;
      }
      return { startHour: Number(m[1]), endHour: Number(m[2]) };
    }),
  /** Directory of the incident runbooks (one YAML file per severity), validated at start-up. */
  KEEL_RUNBOOKS_DIR: z.string().default('runbooks'),
  /** Playbook queries (playbooks/*.sql): their directory, validated at start-up; each run's statement
   *  timeout and hard row cap; the connections they may hold at once (their own pool, so a burst of
   *  heavy pulls cannot take the connections the booking transitions need). */
  KEEL_PLAYBOOKS_DIR: z.string().default('playbooks'),
  KEEL_PLAYBOOK_TIMEOUT: duration.pipe(z.number().int().min(100, 'must be at least 100ms').max(300_000, 'must be at most 5m')).default(5_000),
  KEEL_PLAYBOOK_MAX_ROWS: z.coerce.number().int().min(1).max(100_000).default(10_000),
  KEEL_PLAYBOOK_POOL_SIZE: z.coerce.number().int().min(1).max(20).default(2),
  /** Stuck-work watchdog: how late a timed transition may be, the attempt from which a retrying
   *  activity is reported, how long a RUNNING campaign may go without progress, the incident's severity. */
  KEEL_WATCHDOG_GRACE: duration.default(2 * 60_000),
  KEEL_WATCHDOG_MAX_ATTEMPTS: z.coerce.number().int().min(2).max(1000).default(5),
  KEEL_WATCHDOG_CAMPAIGN_STALL: duration.default(5 * 60_000),
  KEEL_WATCHDOG_SEVERITY: z.enum(['SEV1', 'SEV2', 'SEV3', 'SEV4']).default('SEV3'),
  /** The watchdog's incidents are marked as drills (the crisis drill sets it; never in production). */
  KEEL_WATCHDOG_DRILL: bool.default(false),
  /** How often every process re-reads its emergency log level (PUT /v1/admin/log-level). */
  KEEL_LOG_LEVEL_POLL: duration.default(2000),
  /** Worker process: Prometheus endpoint (Keel's worker metrics plus the Temporal SDK's); 0 disables it. */
  KEEL_WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  KEEL_WORKER_METRICS_HOST: z.string().default('0.0.0.0'),
  /** Worker process: where the SDK's own exporter listens (127.0.0.1 only; merged into the port above). */
  KEEL_TEMPORAL_METRICS_PORT: z.coerce.number().int().min(1).max(65535).default(9465),
  /** API: other metrics endpoints appended to GET /metrics (comma-separated URLs), e.g. the worker's on a laptop. */
  KEEL_METRICS_SCRAPE_URLS: z
    .string()
    .default('')
    .transform((s) => s.split(',').map((u) => u.trim()).filter(Boolean))
    .pipe(z.array(z.url())),
  /** Where operations alerts (overdue cars, escalated incident steps) are e-mailed, comma-separated;
   *  never a user of the users table. Unset: they are kept in notification_outbox only. */
  KEEL_OPS_ALERT_EMAILS: z
    .string()
    .default('')
    .transform((s) => s.split(',').map((u) => u.trim()).filter(Boolean))
    .pipe(z.array(z.email({ message: 'must be comma-separated e-mail addresses' })).max(20)),
  /** IANA time zone of the business day: the dashboard's "today's revenue" runs from local midnight to midnight. */
  KEEL_BUSINESS_TIME_ZONE: z.string().default('Europe/Paris').refine(isValidTimeZone, 'must be an IANA time zone, e.g. Europe/Paris'),
});

export type Env = z.infer<typeof EnvSchema>;

export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const parsed = EnvSchema.safeParse(source);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const providerIssues = providerEnvIssues(parsed.data);
  if (providerIssues.length) throw new Error(`Invalid configuration:\n${providerIssues.map((i) => `  ${i}`).join('\n')}`);
  return parsed.data;
}

export function campaignSettings(env: Env) {
  return {
    pageSize: env.KEEL_CAMPAIGN_PAGE_SIZE,
    concurrency: env.KEEL_CAMPAIGN_CONCURRENCY,
    pagesPerRun: env.KEEL_CAMPAIGN_PAGES_PER_RUN,
    quietHours: env.KEEL_QUIET_HOURS,
    defaultRatePerSecond: env.KEEL_CAMPAIGN_DEFAULT_RATE || undefined,
  };
}

export function temporalAddress(env: Env): string {
  return env.TEMPORAL_ADDRESS ?? `localhost:${env.TEMPORAL_PORT}`;
}
