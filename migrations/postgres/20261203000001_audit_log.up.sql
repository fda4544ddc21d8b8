-- The audit log (contract: "Audit log"). An event keeps copies of what it names (the actor's
-- email, the dealership) and no foreign key: it outlives the users and dealerships it mentions.
--   dealership_id         the dealership of the event's subject (after the change)
--   former_dealership_id  for a user moved between dealerships, the one they left: the event is
--                         visible to the principals of both
--   details               JSON text: the changed fields, from → to values, reasons; never a secret
CREATE TABLE audit_events (
    id                    UUID PRIMARY KEY NOT NULL,
    at                    TIMESTAMPTZ NOT NULL,
    action                TEXT NOT NULL,
    actor_id              UUID,
    actor_email           TEXT,
    dealership_id         UUID,
    former_dealership_id  UUID,
    subject_type          TEXT,
    subject_id            UUID,
    session_id            UUID,
    ip                    TEXT,
    user_agent            TEXT,
    details               TEXT NOT NULL DEFAULT '{}'
);
-- Newest first, keyset-paged by (at, id): one index per filter, each ending in the paging key,
-- read backwards.
CREATE INDEX audit_events_at_idx ON audit_events (at, id);
CREATE INDEX audit_events_action_idx ON audit_events (action, at, id);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, at, id);
CREATE INDEX audit_events_subject_idx ON audit_events (subject_id, at, id);
CREATE INDEX audit_events_dealership_idx ON audit_events (dealership_id, at, id);
CREATE INDEX audit_events_former_dealership_idx ON audit_events (former_dealership_id, at, id)
    WHERE former_dealership_id IS NOT NULL;

-- A dealership's scope sees the events of its dealership, and those of users who left it.
ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON audit_events
    USING ((SELECT adam_scope_is_all())
           OR dealership_id = (SELECT adam_scope_dealership())
           OR former_dealership_id = (SELECT adam_scope_dealership()))
    WITH CHECK ((SELECT adam_scope_is_all())
           OR dealership_id = (SELECT adam_scope_dealership()));

-- Of a throttled burst only the first refusal per throttle key and lockout is recorded: the key
-- is noted here until its lockout ends.
CREATE TABLE throttle_notices (
    key    TEXT PRIMARY KEY NOT NULL,
    until  TIMESTAMPTZ NOT NULL
);
ALTER TABLE throttle_notices ENABLE ROW LEVEL SECURITY;
ALTER TABLE throttle_notices FORCE ROW LEVEL SECURITY;
CREATE POLICY engine_only ON throttle_notices
    USING ((SELECT current_setting('adam.scope', true)) = 'system')
    WITH CHECK ((SELECT current_setting('adam.scope', true)) = 'system');

-- Chores that run at most once per period whichever server does them (the audit retention
-- purge): the server that moves `last_run` forward runs it.
CREATE TABLE chores (
    name      TEXT PRIMARY KEY NOT NULL,
    last_run  TIMESTAMPTZ NOT NULL
);
ALTER TABLE chores ENABLE ROW LEVEL SECURITY;
ALTER TABLE chores FORCE ROW LEVEL SECURITY;
CREATE POLICY engine_only ON chores
    USING ((SELECT current_setting('adam.scope', true)) = 'system')
    WITH CHECK ((SELECT current_setting('adam.scope', true)) = 'system');
