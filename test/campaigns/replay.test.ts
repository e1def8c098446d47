// Campaign histories in test/campaigns/histories/ must replay against the current workflow code: those
// recorded before the command layer (the API wrote the rate; commands carried no caller; the retry run
// wrote no RUNNING) prove that running campaigns survive the deploy, the others that the patched code
// replays itself. Kept apart from test/histories/, whose test covers booking and incident histories.
// Recorded by driving campaigns through the API (rate changes, pause, resume, cancel, a scheduled
// campaign, one completed, a retry-failed run) and saving each run's history (historyFileText).
import path from 'node:path';
import { DefaultLogger, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { explain, historyFilesIn, readHistoryFile, replayHistories } from '../../scripts/replay';
import { workflowBundle } from '../helpers/stack';

beforeAll(() => {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR'),
      telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} } } });
  } catch {
    // already installed in this jest worker
  }
});

test('every recorded campaign history replays against the current workflow code', async () => {
  const files = historyFilesIn(path.join(__dirname, 'histories'));
  expect(files.some((f) => f.endsWith('-before-command-layer.json'))).toBe(true);
  const outcomes = await replayHistories(files.map(readHistoryFile), { workflowBundle: await workflowBundle() });
  const failed = outcomes.filter((o) => !o.ok).map(explain).join('\n\n');
  if (failed) throw new Error(`campaign histories that no longer replay:\n\n${failed}`);
  expect(outcomes.map((o) => o.workflowType)).toEqual(files.map(() => 'campaignWorkflow'));
});
