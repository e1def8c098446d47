// An `ops` worker of its own for the watchdog tests: started beside a stack that runs the other task
// queues, so stack.stopWorkers() can take the bookings worker away while the watchdog keeps running,
// and with its database connection direct (not through stack.dbProxy), as when the ops worker runs in
// a process of its own: blocking the proxy cuts the booking workers off while the watchdog still sees.
import { Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { createWorker } from '../../workers/create';
import { createOutboxProvider } from '../../providers/outbox';
import type { WatchdogSettings } from '../../domain/watchdog';
import { TEST_COMPONENTS, workflowBundle, type Stack } from '../helpers/stack';
import { testTemporalAddress } from '../helpers/temporal';

export async function startOpsWorker(stack: Stack, watchdog: Partial<WatchdogSettings>): Promise<{ stop(): Promise<void> }> {
  const connection = await NativeConnection.connect({ address: testTemporalAddress() });
  const clientConnection = await Connection.connect({ address: testTemporalAddress() });
  const outbox = createOutboxProvider(stack.db);
  const worker: Worker = await createWorker('ops', {
    connection, clientConnection, namespace: 'default', db: stack.db, taskQueuePrefix: stack.prefix,
    workflowBundle: await workflowBundle(), statusComponents: TEST_COMPONENTS,
    providers: { email: outbox, sms: outbox, push: outbox }, watchdog,
  });
  const running = worker.run();
  return {
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running.catch(() => undefined);
      await connection.close();
      await clientConnection.close();
    },
  };
}
