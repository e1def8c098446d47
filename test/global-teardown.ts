// Jest globalTeardown: stops the servers test/global-setup.ts started (none if it was given addresses).
import { stopTestServices } from './global-setup';

export default async function globalTeardown(): Promise<void> {
  await stopTestServices();
}
