// Playbook commands: list, describe and run the parameterised SQL pulls (playbooks/*.sql) for the API
// and `npm run playbook` alike. A run goes through db/playbook-runner.ts: read-only transaction,
// statement timeout, row limit, and an audit row naming the actor.
import { PlaybookRunError, type PlaybookResult, type PlaybookRunner } from '../db/playbook-runner';
import { describePlaybook } from '../domain/playbook';
import type { CommandContext } from './context';
import { CommandError, invalid, notFound } from './errors';

type PlaybookContext = Pick<CommandContext, 'playbooks'>;

function runnerOf(ctx: PlaybookContext): PlaybookRunner {
  if (!ctx.playbooks) throw notFound('playbooks in this process (no playbook runner is configured)');
  return ctx.playbooks;
}

export function listPlaybooks(ctx: PlaybookContext) {
  const runner = runnerOf(ctx);
  return { playbooks: runner.list(), maxRows: runner.maxRows };
}

export function getPlaybook(ctx: PlaybookContext, name: string) {
  const p = runnerOf(ctx).get(name);
  if (!p) throw new CommandError('NOT_FOUND', `no playbook named ${JSON.stringify(name.slice(0, 100))}; GET /v1/playbooks lists them`);
  return { ...describePlaybook(p), sql: p.sql };
}

/** What a refused run means to the caller; anything else (the database down) is left as it is. */
function refusal(err: unknown): unknown {
  if (!(err instanceof PlaybookRunError)) return err;
  const sqlState = { sqlState: err.details?.sqlState };
  switch (err.kind) {
    case 'not_found':
      return new CommandError('NOT_FOUND', err.message);
    case 'invalid_params':
      return invalid(err.message, err.details?.fields?.map((f) => ({ field: `params.${f.field}`, message: f.message })));
    case 'bad_value':
      return invalid(err.message, undefined, sqlState);
    case 'read_only':
      return new CommandError('READ_ONLY_VIOLATION', err.message, sqlState);
    case 'timeout':
      return new CommandError('QUERY_TIMEOUT', err.message, sqlState);
  }
}

export async function runPlaybook(
  ctx: Pick<CommandContext, 'playbooks' | 'actor' | 'requestId'>,
  name: string,
  params: Record<string, unknown>,
): Promise<PlaybookResult> {
  try {
    return await runnerOf(ctx).run(name, params, { actor: ctx.actor, requestId: ctx.requestId });
  } catch (err) {
    throw refusal(err);
  }
}
