-- OpenID Connect Back-Channel Logout 1.0 (contract: "OpenID Connect provider"): when a browser
-- session ends, each client with a `backchannel_logout_uri` that received tokens in it is told,
-- once per client and session. Queued in the unit of work that ends the session; a server
-- claims a row (`claimed_until`), signs a fresh `logout_token` per attempt and retries a network
-- error or a 5xx until 24 hours after `created_at`; any 2xx or 4xx ends the attempts (`done_at`).
CREATE TABLE backchannel_logouts (
    id               UUID PRIMARY KEY,
    client_id        TEXT NOT NULL REFERENCES oauth_clients (client_id) ON DELETE CASCADE,
    sid              UUID NOT NULL,
    sub              UUID NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    claimed_until    TIMESTAMPTZ,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    done_at          TIMESTAMPTZ,
    UNIQUE (client_id, sid)
);
CREATE INDEX backchannel_logouts_due_idx ON backchannel_logouts (next_attempt_at) WHERE done_at IS NULL;
CALL adam_engine_only('backchannel_logouts');

-- Sessions end in the scope of whoever ends them (a user, a principal), where neither this table
-- nor the clients are visible: the queueing enters the system scope for this one statement and
-- restores the scope it found (as `adam_live_session` does).
CREATE FUNCTION adam_queue_backchannel_logout(p_id UUID, p_client TEXT, p_sid UUID, p_sub UUID,
    p_now TIMESTAMPTZ)
RETURNS BOOLEAN
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    previous TEXT := coalesce(current_setting('adam.scope', true), '');
    queued INTEGER;
BEGIN
    PERFORM set_config('adam.scope', 'system', true);
    INSERT INTO backchannel_logouts (id, client_id, sid, sub, created_at, next_attempt_at, attempts)
        SELECT p_id, client_id, p_sid, p_sub, p_now, p_now, 0 FROM oauth_clients
        WHERE client_id = p_client AND backchannel_logout_uri IS NOT NULL
        ON CONFLICT (client_id, sid) DO NOTHING;
    GET DIAGNOSTICS queued = ROW_COUNT;
    PERFORM set_config('adam.scope', previous, true);
    RETURN queued > 0;
END
$$;
