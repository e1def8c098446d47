// The campaign workflow's contract: settings, input, progress, and the updates and query it answers.
// Imported by the command layer without loading the workflow itself.
import * as wf from '@temporalio/workflow';
import type { Audience, CampaignStatus, CampaignTemplate, Channel, QuietHours } from '../domain/campaign';
import type { RequestMeta } from './booking-messages';

export interface CampaignSettings {
  pageSize: number;
  concurrency: number;
  pagesPerRun: number;
  quietHours: QuietHours;
  /**
   * Messages per second for a campaign that names no rate (KEEL_CAMPAIGN_DEFAULT_RATE); undefined = no
   * limit. The default keeps a full-speed blast from starving booking transitions of CPU and database.
   */
  defaultRatePerSecond?: number;
}

export interface CampaignCursor {
  maxSeq: number;
  nextSeq: number;
  /** Pages interrupted by a pause (or a failed run) that must be sent again. */
  redo: Array<[number, number]>;
  ratePerSecond?: number;
  paused: boolean;
  /** After the first pass: only deferred (quiet hours) deliveries remain. */
  pass: number;
}

export interface CampaignInput {
  campaignId: string;
  channel: Channel;
  template: CampaignTemplate;
  /**
   * Only in runs started before the audience moved to the database (ignored; their ids were copied
   * into campaign_audience). The input names no user: its size is the template's, whatever the audience.
   */
  audience?: Audience;
  promoPoolId?: string;
  sendAt?: string;
  ratePerSecond?: number;
  marketing: boolean;
  settings: CampaignSettings;
  cursor?: CampaignCursor;
  /**
   * A run started by retry-failed: its first step writes RUNNING (the claim left the row COMPLETED),
   * and takeOverUpdate answers once it has. Not carried over by continue-as-new.
   */
  retry?: boolean;
}

export interface CampaignProgress {
  status: CampaignStatus;
  cursor?: CampaignCursor;
  pagesInFlight: number;
}

// Who asks travels with every command: the workflow writes it into the audit row of the change.
export const pauseUpdate = wf.defineUpdate<CampaignProgress, [RequestMeta]>('pause');
export const resumeUpdate = wf.defineUpdate<CampaignProgress, [RequestMeta]>('resume');
export const cancelCampaignUpdate = wf.defineUpdate<CampaignProgress, [RequestMeta]>('cancel');
export const setRateUpdate = wf.defineUpdate<CampaignProgress, [RequestMeta & { ratePerSecond: number | null }]>('setRate');
/** retry-failed waits on this: the new run answers once its RUNNING is in the row. */
export const takeOverUpdate = wf.defineUpdate<CampaignProgress>('takeOver');
export const progressQuery = wf.defineQuery<CampaignProgress>('progress');
