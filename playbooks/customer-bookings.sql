-- name: customer-bookings
-- description: Every booking of one customer that starts at or after `since`, newest first, with its
-- description: status, car, amount and when the car was connected and returned.
-- param: customer_id id required | the customer's id
-- param: since timestamp default now-90d | earliest start time (ISO 8601, a date, or now-30d)
-- param: status enum(BookingStatus) default any | only bookings in this status
-- param: limit limit default 100

SELECT b.id AS booking_id, b.status, b.car_id, b.starts_at, b.ends_at, b.amount_cents, b.currency,
       b.connected_at, b.returned_at, b.created_at
FROM bookings b
WHERE b.customer_id = :customer_id
  AND b.starts_at >= :since
  AND (:status IS NULL OR b.status = :status)
ORDER BY b.starts_at DESC, b.id
