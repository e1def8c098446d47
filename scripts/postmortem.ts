// npm run postmortem -- <incidentId> [--out FILE]
// Writes the post-mortem of an incident from its workflow history as stored in Temporal: it works
// after the incident closed and without any database row. The state is read from the history itself:
// the closed run's result, or, for an incident still running, the newest snapshot the workflow handed
// to its recordIncident activity (each carries the full state, timeline included).
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { loadEnv } from '../config/env';
import { temporalSettings } from '../config/temporal';
import { workflowIdForIncident, type IncidentState } from '../domain/incident';
import { renderPostmortem } from '../domain/postmortem';

type History = temporal.api.history.v1.IHistory;

/** The incident's state as recorded in one run's history, or undefined if it holds none. */
export function stateFromHistory(history: History): IncidentState | undefined {
  const events = history.events ?? [];
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    const done = e.workflowExecutionCompletedEventAttributes?.result?.payloads?.[0];
    if (done) return defaultPayloadConverter.fromPayload<IncidentState>(done);
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled?.activityType?.name === 'recordIncident' && scheduled.input?.payloads?.[0]) {
      return defaultPayloadConverter.fromPayload<{ snapshot: IncidentState }>(scheduled.input.payloads[0]).snapshot;
    }
  }
  // A run continued as new before recording anything carries the state in its input.
  const started = events[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  return started ? defaultPayloadConverter.fromPayload<{ carried?: IncidentState }>(started).carried : undefined;
}

export async function postmortemFromTemporal(client: Client, incidentId: string): Promise<string> {
  // Without a run id the handle follows the chain to the newest run (after any continue-as-new).
  const history = await client.workflow.getHandle(workflowIdForIncident(incidentId)).fetchHistory();
  const state = stateFromHistory(history);
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
