-- name: no-shows
-- description: Bookings that ended as NO_SHOW (the customer never connected to the car), whose start
-- description: lies in the period, earliest first.
-- param: period period default now-7d/now | start times, <from>/<to>: from inclusive, to exclusive
-- param: customer_id id default any | only this customer's no-shows
-- param: limit limit default 500

SELECT b.id AS booking_id, b.customer_id, b.car_id, b.starts_at, b.ends_at, b.amount_cents, b.currency,
       b.updated_at AS marked_at
FROM bookings b
WHERE b.status = 'NO_SHOW'
  AND b.starts_at >= :period.start
  AND b.starts_at < :period.end
  AND (:customer_id IS NULL OR b.customer_id = :customer_id)
ORDER BY b.starts_at, b.id
