-- name: user-deliveries
-- description: The campaign messages of one user (campaigns created at or after `since`), newest
-- description: campaign first: status, attempts, last error and the promo code it carried.
-- param: user_id id required | the user's id
-- param: since timestamp default now-90d | earliest campaign creation time
-- param: status enum(DeliveryStatus) default any | only deliveries in this status
-- param: limit limit default 100

SELECT d.campaign_id, c.name AS campaign_name, c.channel, d.status, d.attempts, d.last_error,
       d.promo_code, d.sent_at, d.updated_at
FROM deliveries d
JOIN campaigns c ON c.id = d.campaign_id
WHERE d.user_id = :user_id
  AND c.created_at >= :since
  AND (:status IS NULL OR d.status = :status)
ORDER BY c.created_at DESC, d.campaign_id
