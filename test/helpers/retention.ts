// What the namespace's retention does to a closed run after its period: the server forgets it. Tests of
// "duplicates refused forever" stand it in with deleteWorkflowExecution.
import type { Client } from '@temporalio/client';
import { eventually } from './stack';

/**
 * Waits for the workflow's current run to close, deletes it by run id (without one the server looks
 * for a running execution and may leave the closed one), and waits until describe no longer finds it.
 * The server deletes asynchronously and, when busy, slowly: the delete is asked again every 10 s.
 */
export async function forgetClosedRun(client: Client, workflowId: string): Promise<void> {
  const handle = client.workflow.getHandle(workflowId);
  const closed = await eventually(async () => { const d = await handle.describe(); return d.status.name !== 'RUNNING' && d; }, 30_000, 200);
  let asked = 0;
  await eventually(async () => {
    if (Date.now() - asked > 10_000) {
      asked = Date.now();
      await client.workflowService
        .deleteWorkflowExecution({ namespace: 'default', workflowExecution: { workflowId, runId: closed.runId } })
        .catch(() => undefined); // already gone
    }
    // By name: the SDK's error classes may be loaded twice (node_modules is a symlink), and instanceof then fails.
    return client.withDeadline(Date.now() + 5000, () => handle.describe()).then(() => false, (err: Error) => err.name === 'WorkflowNotFoundError');
  }, 150_000, 500);
}
