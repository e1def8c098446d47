-- name: incidents-in-period
-- description: Incidents declared in the period (drills included, marked drill = true), earliest
-- description: first, with severity, status, components and when they were resolved and closed.
-- param: period period default now-30d/now | declaration times, <from>/<to>: from inclusive, to exclusive
-- param: status enum(IncidentStatus) default any | only incidents in this status
-- param: limit limit default 500

SELECT i.id AS incident_id, i.title, i.severity, i.status, i.drill, i.components, i.declared_at,
       i.resolved_at, i.closed_at
FROM incidents i
WHERE i.declared_at >= :period.start
  AND i.declared_at < :period.end
  AND (:status IS NULL OR i.status = :status)
ORDER BY i.declared_at, i.id
