// npm run postmortem -- <incidentId> [--out FILE]
// Writes the post-mortem of an incident from its workflow histories as stored in Temporal: it works
// after the incident closed and without any database row. The workflow hands each change to its
// recordIncidentChanges activity (only the change, never the whole state), so the state is the
// declaration in the first run's input with every recorded change folded in, run after run of the
// continue-as-new chain (domain/incident.ts applyIncidentChange, the database's own function).
// Histories recorded before that change carry whole snapshots (recordIncident): the newest one wins.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { loadEnv } from '../config/env';
import { temporalSettings } from '../config/temporal';
import { applyIncidentChange, initialIncidentState, workflowIdForIncident, type IncidentState } from '../domain/incident';
import { renderPostmortem } from '../domain/postmortem';
import type { RecordChangesArgs } from '../activities/incidents';
import type { IncidentInput } from '../workflows/incident-messages';

type History = temporal.api.history.v1.IHistory;

/** The incident's state as recorded in a chain of runs' histories (oldest first), or undefined if they hold none. */
export function stateFromHistories(histories: History[]): IncidentState | undefined {
  let state: IncidentState | undefined;
  for (const history of histories) {
    for (const e of history.events ?? []) {
      const started = e.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
      if (started && !state) {
        const input = defaultPayloadConverter.fromPayload<IncidentInput>(started);
        state = structuredClone(input.carried ?? initialIncidentState(input.declare));
      }
      const scheduled = e.activityTaskScheduledEventAttributes;
      const payload = scheduled?.input?.payloads?.[0];
      if (!payload || !state) continue;
      if (scheduled?.activityType?.name === 'recordIncidentChanges') {
        for (const c of defaultPayloadConverter.fromPayload<RecordChangesArgs>(payload).changes) applyIncidentChange(state, c);
      } else if (scheduled?.activityType?.name === 'recordIncident') {
        state = defaultPayloadConverter.fromPayload<{ snapshot: IncidentState }>(payload).snapshot;
      }
    }
  }
  return state;
}

/** Every run of the workflow's continue-as-new chain, oldest first (each run's start names the one before). */
async function chainHistories(client: Client, workflowId: string): Promise<History[]> {
  const histories: History[] = [];
  // Without a run id the handle follows the chain to the newest run.
  let runId: string | undefined;
  for (;;) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    histories.unshift(history);
    runId = history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
    if (!runId) return histories;
  }
}

export async function postmortemFromTemporal(client: Client, incidentId: string): Promise<string> {
  const state = stateFromHistories(await chainHistories(client, workflowIdForIncident(incidentId)));
  if (!state) throw new Error(`the history of ${workflowIdForIncident(incidentId)} holds no incident state yet`);
  return renderPostmortem(state);
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { out: { type: 'string' } } });
  const incidentId = positionals[0];
  if (!incidentId) {
    console.error('usage: npm run postmortem -- <incidentId> [--out FILE]');
    process.exit(2);
  }
  const t = temporalSettings(loadEnv());
  const connection = await Connection.connect({ address: t.address, tls: t.tls, apiKey: t.apiKey });
  try {
    const markdown = await postmortemFromTemporal(new Client({ connection, namespace: t.namespace }), incidentId);
    if (values.out) fs.writeFileSync(values.out, markdown);
    else process.stdout.write(markdown);
  } catch (err) {
    console.error(err instanceof WorkflowNotFoundError ? `no incident workflow ${workflowIdForIncident(incidentId)} in Temporal` : (err as Error).message);
    process.exitCode = 1;
  } finally {
    await connection.close();
  }
}

if (require.main === module) void main();
