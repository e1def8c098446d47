-- name: campaign-failed-deliveries
-- description: The FAILED deliveries of one campaign, in audience order, with the provider's last
-- description: error and the contact the message was meant for.
-- param: campaign_id id required | the campaign's id
-- param: limit limit default 1000

SELECT d.user_id, d.seq, d.attempts, d.last_error, d.updated_at AS failed_at, c.channel,
       u.email, u.phone
FROM deliveries d
JOIN campaigns c ON c.id = d.campaign_id
LEFT JOIN users u ON u.id = d.user_id
WHERE d.campaign_id = :campaign_id
  AND d.status = 'FAILED'
ORDER BY d.seq
