-- The expiry benchmark's backlog (docs/benchmarks.md): :n unpaid bookings of event :event whose
-- payment deadline passed an hour ago, inserted directly, their seats taken from the event so
-- that available + booked + held = capacity still holds. PostgreSQL, schema `event`:
--   psql -v event=1 -v n=100000 -f scripts/expiry-backlog.sql postgres://…/db
SET search_path = event;
BEGIN;
INSERT INTO bookings (event_id, user_id, quantity, status, payment_deadline, version, created_at,
                      updated_at, unit_price_minor, base_minor, dynamic_adjustment_minor,
                      group_discount_minor, promo_discount_minor, loyalty_discount_minor,
                      loyalty_points_used, total_price_minor)
SELECT :event, gen_random_uuid(), 1, 'PENDING_PAYMENT', now() - interval '1 hour', 0,
       now() - interval '2 hours', now() - interval '2 hours', 1000, 1000, 0, 0, 0, 0, 0, 1000
FROM generate_series(1, :n);
UPDATE events SET available_seats = available_seats - :n WHERE id = :event;
COMMIT;
