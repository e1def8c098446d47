-- name: promo-code-holder
-- description: Who holds a promo code: its pool, the user and campaign it was assigned to and whether
-- description: the message carrying it was sent. A code not assigned yet has no holder.
-- param: code text required | the promo code, exactly as issued
-- param: pool_id id default any | only this pool (codes are unique per pool)
-- param: limit limit default 100

SELECT pc.code, pc.pool_id, pp.name AS pool_name, pc.assigned_user_id AS user_id, u.email AS user_email,
       pc.assigned_campaign_id AS campaign_id, pc.assigned_at, d.status AS delivery_status, d.sent_at
FROM promo_codes pc
JOIN promo_pools pp ON pp.id = pc.pool_id
LEFT JOIN users u ON u.id = pc.assigned_user_id
LEFT JOIN deliveries d ON d.campaign_id = pc.assigned_campaign_id AND d.user_id = pc.assigned_user_id
WHERE pc.code = :code
  AND (:pool_id IS NULL OR pc.pool_id = :pool_id)
ORDER BY pc.pool_id
