// Who a notification is for. Customer messages go to the user the workflow names; operations alerts
// (an overdue car, an escalated incident step) go to the addresses in configuration
// (KEEL_OPS_ALERT_EMAILS) and never through the users table: a service key can create any user id,
// including `operations` or a role holder's name, and must not be able to receive those alerts.

/** The recipient a workflow names for the operations team. */
export const OPERATIONS_RECIPIENT = 'operations';

/** Kinds that are always for the operations team, whoever the recipient field names. */
const OPERATIONS_KINDS: ReadonlySet<string> = new Set(['incident.escalation']);

export function isOperationsAlert(n: { kind: string; recipient: string }): boolean {
  return OPERATIONS_KINDS.has(n.kind) || n.recipient === OPERATIONS_RECIPIENT;
}
