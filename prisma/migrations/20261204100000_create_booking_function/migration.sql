-- Booking creation in one call (db/booking-store.ts createBooking): the car lock, the duplicate and
-- overlap checks, the row, its event, the audit entry and the dashboard summary, in one statement
-- from the API's point of view instead of a 7-statement interactive transaction (one round trip, and
-- no Prisma transaction bookkeeping in the API's event loop; bench/README.md has the figures).
--
-- Why a function and not one CTE: in READ COMMITTED a single statement reads from one snapshot taken
-- when it starts, so an overlap check in the same statement as the car lock would not see a booking
-- committed by the transaction it waited for. Inside a VOLATILE plpgsql function every statement
-- takes a fresh snapshot, so the checks after the lock see what the previous lock holder committed,
-- exactly as the separate statements of the transaction did.
--
-- What the summary moves is decided by the caller (dashboard-store.ts creationSummary: the counter
-- metric and shard, the revenue shard, the summary's advisory lock key) so the sharding rule stays in
-- one place; the revenue bucket is the stored created_at's 15-minute bucket, as the reconciliation
-- computes it.
CREATE OR REPLACE FUNCTION "keel_create_booking"(
    p_id VARCHAR, p_customer_id VARCHAR, p_car_id VARCHAR, p_starts_at TIMESTAMPTZ, p_ends_at TIMESTAMPTZ,
    p_amount_cents INTEGER, p_currency CHAR(3), p_request_hash CHAR(64), p_workflow_id VARCHAR,
    p_actor VARCHAR, p_request_id VARCHAR, p_audit_details JSONB,
    p_counter_metric VARCHAR, p_counter_shard SMALLINT, p_revenue_shard SMALLINT,
    p_summary_lock_class INTEGER, p_summary_lock_id INTEGER
) RETURNS TABLE ("outcome" TEXT, "conflicting_booking_id" VARCHAR, "booking" JSON)
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    b "bookings";
    other VARCHAR;
BEGIN
    -- A resubmission of a committed booking is answered without queueing for the car's lock.
    SELECT * INTO b FROM "bookings" WHERE "id" = p_id;
    IF FOUND THEN
        RETURN QUERY SELECT CASE WHEN b."request_hash" = p_request_hash THEN 'existing' ELSE 'different_request' END, NULL::VARCHAR, row_to_json(b);
        RETURN;
    END IF;

    -- Serialises everything that touches this car's calendar (creation and extension), until commit.
    INSERT INTO "cars" ("id") VALUES (p_car_id) ON CONFLICT ("id") DO UPDATE SET "id" = EXCLUDED."id";

    -- Looked up again under the lock: the same request sent concurrently committed while this one waited.
    SELECT * INTO b FROM "bookings" WHERE "id" = p_id;
    IF FOUND THEN
        RETURN QUERY SELECT CASE WHEN b."request_hash" = p_request_hash THEN 'existing' ELSE 'different_request' END, NULL::VARCHAR, row_to_json(b);
        RETURN;
    END IF;

    SELECT o."id" INTO other FROM "bookings" o
    WHERE o."car_id" = p_car_id AND o."id" <> p_id AND o."status" IN ('CONFIRMED', 'ONGOING', 'OVERDUE')
      AND o."starts_at" < p_ends_at AND o."ends_at" > p_starts_at
    ORDER BY o."starts_at" ASC LIMIT 1;
    IF other IS NOT NULL THEN
        RETURN QUERY SELECT 'overlap'::TEXT, other, NULL::JSON;
        RETURN;
    END IF;

    -- The same id sent concurrently for another car (another lock): the insert waits for that
    -- transaction and does nothing if it committed; the row it wrote is then the answer.
    INSERT INTO "bookings" ("id", "customer_id", "car_id", "starts_at", "ends_at", "amount_cents", "currency", "request_hash", "workflow_id")
    VALUES (p_id, p_customer_id, p_car_id, p_starts_at, p_ends_at, p_amount_cents, p_currency, p_request_hash, p_workflow_id)
    ON CONFLICT ("id") DO NOTHING
    RETURNING * INTO b;
    IF NOT FOUND THEN
        SELECT * INTO b FROM "bookings" WHERE "id" = p_id;
        IF NOT FOUND THEN
            -- Deleted again meanwhile (its start failed): the caller runs the whole call once more.
            RAISE EXCEPTION 'booking % was created and deleted concurrently', p_id USING ERRCODE = 'unique_violation';
        END IF;
        RETURN QUERY SELECT CASE WHEN b."request_hash" = p_request_hash THEN 'existing' ELSE 'different_request' END, NULL::VARCHAR, row_to_json(b);
        RETURN;
    END IF;

    INSERT INTO "booking_events" ("booking_id", "transition_key", "action", "to_status", "actor", "request_id")
    VALUES (p_id, p_id || ':v1:create', 'create', 'CONFIRMED', p_actor, p_request_id);

    INSERT INTO "audit_log" ("actor", "action", "resource_type", "resource_id", "request_id", "details")
    VALUES (p_actor, 'booking.create', 'booking', p_id, p_request_id, p_audit_details);

    -- The dashboard summary last, so its shared rows are held only until the commit that follows.
    PERFORM pg_advisory_xact_lock_shared(p_summary_lock_class, p_summary_lock_id);
    INSERT INTO "dashboard_counters" ("metric", "shard", "value") VALUES (p_counter_metric, p_counter_shard, 1)
    ON CONFLICT ("metric", "shard") DO UPDATE SET "value" = "dashboard_counters"."value" + EXCLUDED."value";
    INSERT INTO "dashboard_revenue" ("bucket", "currency", "shard", "amount_cents", "bookings")
    VALUES (date_bin('15 minutes', b."created_at", TIMESTAMPTZ '1970-01-01 00:00:00+00'), b."currency", p_revenue_shard, b."amount_cents", 1)
    ON CONFLICT ("bucket", "currency", "shard") DO UPDATE SET
        "amount_cents" = "dashboard_revenue"."amount_cents" + EXCLUDED."amount_cents",
        "bookings" = "dashboard_revenue"."bookings" + EXCLUDED."bookings";

    RETURN QUERY SELECT 'created'::TEXT, NULL::VARCHAR, row_to_json(b);
END
$fn$;
