-- name: booking-events
-- description: The history of one booking: every transition with who caused it, why, when it was due
-- description: and when it was written (late_seconds > 0: a worker or the database was behind).
-- param: booking_id id required | the booking's id
-- param: limit limit default 200

SELECT e.occurred_at, e.action, e.from_status, e.to_status, e.actor, e.reason, e.scheduled_at,
       CASE WHEN e.scheduled_at IS NULL THEN NULL
            ELSE greatest(0, floor(extract(epoch FROM e.occurred_at - e.scheduled_at)))::int END AS late_seconds,
       e.request_id
FROM booking_events e
WHERE e.booking_id = :booking_id
ORDER BY e.occurred_at, e.id
