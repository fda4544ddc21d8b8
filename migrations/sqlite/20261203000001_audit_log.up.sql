-- The audit log (contract: "Audit log"); see the PostgreSQL migration for the columns.
CREATE TABLE audit_events (
    id                    BLOB PRIMARY KEY NOT NULL,
    at                    TEXT NOT NULL,
    action                TEXT NOT NULL,
    actor_id              BLOB,
    actor_email           TEXT,
    dealership_id         BLOB,
    former_dealership_id  BLOB,
    subject_type          TEXT,
    subject_id            BLOB,
    session_id            BLOB,
    ip                    TEXT,
    user_agent            TEXT,
    details               TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at_idx ON audit_events (at, id);
CREATE INDEX audit_events_action_idx ON audit_events (action, at, id);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, at, id);
CREATE INDEX audit_events_subject_idx ON audit_events (subject_id, at, id);
CREATE INDEX audit_events_dealership_idx ON audit_events (dealership_id, at, id);
CREATE INDEX audit_events_former_dealership_idx ON audit_events (former_dealership_id, at, id)
    WHERE former_dealership_id IS NOT NULL;

CREATE TABLE throttle_notices (
    key    TEXT PRIMARY KEY NOT NULL,
    until  TEXT NOT NULL
);

CREATE TABLE chores (
    name      TEXT PRIMARY KEY NOT NULL,
    last_run  TEXT NOT NULL
);
