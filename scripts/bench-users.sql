-- The benchmarks' users (scripts/load-bench.sh, scripts/instructions-per-request.sh), on a
-- migrated and seeded database: :dealerships dealerships with 100 users each, who share the
-- seeded manager's password (Manager123!). psql -v dealerships=N -f scripts/bench-users.sql
INSERT INTO dealerships (id, name, is_active, created_at, updated_at)
SELECT gen_random_uuid(), 'Dealership ' || n, TRUE, now(), now() FROM generate_series(1, :dealerships) n;
INSERT INTO users (id, email, full_name, password_hash, role, dealership_id, is_active, created_at, updated_at)
SELECT gen_random_uuid(), 'user' || d.rn || '-' || n || '@load.example.com', 'Load User ' || n,
       (SELECT password_hash FROM users WHERE email = 'manager@premiumauto.com'),
       CASE WHEN n = 1 THEN 'dealer_principal' ELSE 'fi_manager' END, d.id, TRUE, now(), now()
FROM (SELECT id, row_number() OVER (ORDER BY name) rn FROM dealerships WHERE name LIKE 'Dealership %') d,
     generate_series(1, 100) n;
