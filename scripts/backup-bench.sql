-- The restore benchmark's data (docs/benchmarks.md): one event of :n seats, all taken by :n
-- CONFIRMED one-seat bookings, each with a completed payment and a booking log line, so that
-- `backend-event check` finds the database consistent. PostgreSQL, schema `event`, migrated:
--   psql -v n=100000 -f scripts/backup-bench.sql postgres://…/db
SET search_path = event;
BEGIN;
INSERT INTO events (name, start_date, max_participants, available_seats, price_minor, status,
                    creator_id, pricing_rules, published_at, created_at, updated_at)
VALUES ('Restore benchmark', now() + interval '30 days', :n, 0, 1000, 'PUBLISHED',
        gen_random_uuid(), '{"dynamic": [], "group": []}', now(), now(), now());
INSERT INTO bookings (event_id, user_id, quantity, status, payment_deadline, ticket_code,
                      version, created_at, updated_at, unit_price_minor, base_minor,
                      dynamic_adjustment_minor, group_discount_minor, promo_discount_minor,
                      loyalty_discount_minor, loyalty_points_used, total_price_minor)
SELECT currval('events_id_seq'), gen_random_uuid(), 1, 'CONFIRMED', now() + interval '1 hour',
       md5(i::text || clock_timestamp()::text), 1, now(), now(), 1000, 1000, 0, 0, 0, 0, 0, 1000
FROM generate_series(1, :n) AS i;
INSERT INTO payments (booking_id, amount_minor, status, gateway, gateway_reference,
                      payment_method, created_at, updated_at)
SELECT id, 1000, 'COMPLETED', 'sandbox', 'bench-' || id, 'CARD', now(), now()
FROM bookings WHERE event_id = currval('events_id_seq');
INSERT INTO booking_logs (booking_id, old_status, new_status, details, created_at)
SELECT id, 'PENDING_PAYMENT', 'CONFIRMED', '{}', now()
FROM bookings WHERE event_id = currval('events_id_seq');
COMMIT;
