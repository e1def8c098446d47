-- name: not-started
-- description: Bookings that should have started but have not: still CONFIRMED although their start
-- description: passed more than `grace` ago (the workflow moves them to ONGOING at the start time, so
-- description: each row is stuck work). Longest waiting first.
-- param: grace interval default 5m | how long after its start a booking may still be CONFIRMED
-- param: limit limit default 100

SELECT b.id AS booking_id, b.customer_id, b.car_id, b.starts_at, b.ends_at,
       floor(extract(epoch FROM now() - b.starts_at) / 60)::int AS minutes_late,
       b.workflow_id
FROM bookings b
WHERE b.status = 'CONFIRMED'
  AND b.starts_at < now() - :grace
ORDER BY b.starts_at, b.id
