-- name: bookings-by-status
-- description: Bookings in one status whose time (start to end) overlaps the period, e.g. every
-- description: ONGOING booking of yesterday. Earliest start first.
-- param: status enum(BookingStatus) required | the status, e.g. ONGOING
-- param: period period default now-1d/now | <from>/<to>: from inclusive, to exclusive
-- param: limit limit default 500

SELECT b.id AS booking_id, b.status, b.customer_id, b.car_id, b.starts_at, b.ends_at,
       b.amount_cents, b.currency, b.updated_at
FROM bookings b
WHERE b.status = :status
  AND b.starts_at < :period.end
  AND b.ends_at > :period.start
ORDER BY b.starts_at, b.id
