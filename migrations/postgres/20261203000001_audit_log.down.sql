DROP TABLE chores;
DROP TABLE throttle_notices;
DROP TABLE audit_events;
