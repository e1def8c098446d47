// Access to the Temporal server test/global-setup.ts provides. Every test file uses its own task
// queue prefix, so parallel jest workers sharing one server never pick up each other's tasks.
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';

export function testTemporalAddress(): string {
  const address = process.env.KEEL_TEST_TEMPORAL_ADDRESS;
  if (!address) throw new Error('KEEL_TEST_TEMPORAL_ADDRESS is not set: run tests through jest (test/global-setup.ts sets it).');
  return address;
}

export async function testClient(): Promise<{ client: Client; connection: Connection; close: () => Promise<void> }> {
  const connection = await Connection.connect({ address: testTemporalAddress() });
  const client = new Client({ connection, namespace: 'default' });
  return { client, connection, close: () => connection.close() };
}

/** `t-<name>-<random>`, valid as KEEL_TASK_QUEUE_PREFIX (letters, digits, `_`, `.`, `-`). */
export function uniquePrefix(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^-+|-+$/g, '') || 'test';
  return `t-${safe}-${randomBytes(4).toString('hex')}`;
}
