// The blameless post-mortem, generated from an incident's own record (its state, which is its
// workflow's history). Pure: the API (from the database snapshot) and `npm run postmortem` (from the
// history fetched from Temporal) call it with the same state and get the same document.
import { RETROSPECTIVE_SECTIONS, type IncidentState, type RoleAssignment } from './incident';

const SECTION_TITLES: Record<(typeof RETROSPECTIVE_SECTIONS)[number], string> = {
  impact: 'Impact',
  whatWentWell: 'What went well',
  whatWasHard: 'What was hard',
  whereWeGotLucky: 'Where we got lucky',
  contributingFactors: 'Contributing factors',
};

const TO_DISCUSS = '_To be discussed in the review meeting._';

function duration(fromIso: string, toIso: string | undefined): string {
  if (!toIso) return 'ongoing';
  const ms = Math.max(0, Date.parse(toIso) - Date.parse(fromIso));
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const sec = Math.floor((ms % 60_000) / 1000);
  return h ? `${h} h ${m} min` : m ? `${m} min ${sec} s` : `${sec} s`;
}

/** Markdown table cells cannot hold pipes or newlines. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function rolesOverTime(history: RoleAssignment[]): string[] {
  if (!history.length) return ['No roles were assigned.'];
  return [
    '| Since (UTC) | Role | Holder | Assigned by |',
    '|---|---|---|---|',
    ...history.map((r) => `| ${r.since} | ${r.role} | ${cell(r.holder)} | ${cell(r.assignedBy)} |`),
  ];
}

export function renderPostmortem(s: IncidentState): string {
  const end = s.resolvedAt ?? s.closedAt;
  const lines: string[] = [
    `# Post-mortem: ${s.title}`,
    '',
    ...(s.drill ? ['> **DRILL.** This incident was a drill; the public status page was not touched.', ''] : []),
    '_Blameless: this document is about the system and our process, not about people._',
    '',
    '## Summary',
    '',
    `| | |`,
    `|---|---|`,
    `| Incident | ${s.incidentId} (workflow \`${s.workflowId}\`) |`,
    `| Severity | ${s.severity} |`,
    `| Status | ${s.status} |`,
    `| Components | ${s.components.map(cell).join(', ')} |`,
    `| Declared | ${s.declaredAt} by ${cell(s.declaredBy)} |`,
    `| Mitigated | ${s.mitigatedAt ?? '-'} |`,
    `| Resolved | ${s.resolvedAt ?? '-'} |`,
    `| Closed | ${s.closedAt ?? '-'} |`,
    `| Duration (declared to resolved) | ${duration(s.declaredAt, end)} |`,
    `| Runbook | ${s.runbook.severity} version ${s.runbook.version} |`,
    '',
    s.summary ? `${s.summary}` : '',
    '',
    '## What happened',
    '',
    s.resolutionSummary ?? TO_DISCUSS,
    '',
    `## ${SECTION_TITLES.impact}`,
    '',
    s.retrospective.impact ?? TO_DISCUSS,
    '',
    '## Roles over time',
    '',
    ...rolesOverTime(s.roleHistory),
    '',
    '## Timeline',
    '',
    '| # | Time (UTC) | Kind | Who | What |',
    '|---|---|---|---|---|',
    ...s.timeline.map((e) => `| ${e.seq} | ${e.at} | ${e.kind} | ${cell(e.actor)} | ${cell(e.text)} |`),
    '',
    '## Checklist',
    '',
    '| Step | Kind | State | By | At | Result or note |',
    '|---|---|---|---|---|---|',
    ...s.checklist.map(
      (c) =>
        `| ${cell(c.step.title)} | ${c.step.kind} | ${c.state}${c.escalatedAt ? ' (escalated)' : ''} | ${cell(c.by ?? '-')} | ${c.at ?? '-'} | ${cell(c.result?.summary ?? c.note ?? '')} |`,
    ),
    '',
    '## Public updates',
    '',
    ...(s.publicUpdates.length
      ? s.publicUpdates.map(
          (u) => `- ${u.at} (${cell(u.by)}): ${u.message} [${Object.entries(u.componentStates).map(([c, st]) => `${c}: ${st}`).join(', ')}]`,
        )
      : [s.drill ? 'None (drill).' : 'None were posted.']),
    '',
    '## Action items',
    '',
    ...(s.actionItems.length
      ? ['| Id | Action | Owner | Due |', '|---|---|---|---|', ...s.actionItems.map((a) => `| ${a.id} | ${cell(a.title)} | ${cell(a.owner)} | ${a.dueDate} |`)]
      : ['None yet.']),
    '',
    ...(['whatWentWell', 'whatWasHard', 'whereWeGotLucky', 'contributingFactors'] as const).flatMap((k) => [
      `## ${SECTION_TITLES[k]}`,
      '',
      s.retrospective[k] ?? TO_DISCUSS,
      '',
    ]),
    '## Questions for the review',
    '',
    '- Could hypotheses be tested quickly?',
    '- Was the information we needed there?',
    '- Was it safe to change things?',
    '- Did people have the access they needed?',
    '',
  ];
  return lines.join('\n');
}
