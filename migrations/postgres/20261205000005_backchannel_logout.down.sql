DROP FUNCTION adam_queue_backchannel_logout(UUID, TEXT, UUID, UUID, TIMESTAMPTZ);
DROP TABLE backchannel_logouts;
