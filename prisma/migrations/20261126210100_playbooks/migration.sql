-- Playbook queries look rows up by what customer service knows: a customer, a user, a promo code.
-- Without these, each of those pulls scans its whole table (bookings by customer; deliveries by
-- user, whose primary key starts with the campaign; promo codes by code, whose key starts with the pool).

-- CreateIndex
CREATE INDEX "bookings_customer_id_starts_at_idx" ON "bookings"("customer_id", "starts_at");

-- CreateIndex
CREATE INDEX "deliveries_user_id_idx" ON "deliveries"("user_id");

-- CreateIndex
CREATE INDEX "promo_codes_code_idx" ON "promo_codes"("code");
