-- name: overdue-bookings
-- description: Cars not returned in time: bookings marked OVERDUE, and ONGOING bookings whose end
-- description: passed more than `grace` ago without being marked yet (marked = false: the workflow is
-- description: behind). Longest overdue first.
-- param: grace interval default 0s | how long after its end an ONGOING booking is listed
-- param: limit limit default 100

SELECT b.id AS booking_id, b.customer_id, b.car_id, b.status, b.status = 'OVERDUE' AS marked,
       b.starts_at, b.ends_at,
       floor(extract(epoch FROM now() - b.ends_at) / 60)::int AS minutes_overdue,
       b.connected_at
FROM bookings b
WHERE b.status = 'OVERDUE'
   OR (b.status = 'ONGOING' AND b.ends_at < now() - :grace)
ORDER BY b.ends_at, b.id
