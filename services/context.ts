// What every command gets: the process's dependencies (database, Temporal, settings) and who asks.
// Routes build one per request (api/context.ts); the watchdog, schedules and CLI tools build their own
// with the actor they act as, and call the same verbs.
import type { Logger } from '../config/logger';
import type { Db } from '../db/client';
import type { PlaybookRunner } from '../db/playbook-runner';
import type { RunbookSnapshot, Severity } from '../domain/incident';
import type { WatchdogSettings } from '../domain/watchdog';
import type { BookingSettings } from '../workflows/booking-messages';
import type { CampaignSettings } from '../workflows/campaign-messages';
import type { TemporalGateway } from './temporal';

export interface ServiceSettings {
  /** Booking workflow settings (the notifications queue is derived from the task queue prefix). */
  bookings: Omit<BookingSettings, 'notificationsTaskQueue'>;
  campaigns: CampaignSettings;
  /** historyEventsLimit: the incident workflow continues as new past it (default 4000; tests lower it). */
  incidents: { components: string[]; runbooks: Map<Severity, RunbookSnapshot>; historyEventsLimit?: number };
  /** The dashboard's business time zone (KEEL_BUSINESS_TIME_ZONE). */
  timeZone: string;
  /** Emergency log levels: a shorter "minute" (tests) and how recent a live process's ack is. */
  logLevels: { minuteMs: number; liveWithinMs: number };
  watchdog?: Partial<WatchdogSettings>;
  /** How long POST /v1/dashboard/reconcile waits for the result before answering 202. */
  reconcileWaitMs: number;
}

export interface Services {
  db: Db;
  temporal: TemporalGateway;
  settings: ServiceSettings;
  playbooks?: PlaybookRunner;
  logger?: Logger;
}

export interface CommandContext extends Services {
  /** `<role>:<key id>` of an API caller, or `system:<component>` for Keel's own tools. */
  actor: string;
  requestId?: string;
  /** The caller's Idempotency-Key: the Temporal update id of an action, and its dedupe key. */
  idempotencyKey?: string;
}

/** Generic over the services given: a worker passes only what its verbs use (services/incidents.ts). */
export function systemContext<S extends Pick<Services, 'db' | 'temporal'>>(services: S, component: string, requestId?: string): S & Pick<CommandContext, 'actor' | 'requestId'> {
  return { ...services, actor: `system:${component}`, requestId };
}
