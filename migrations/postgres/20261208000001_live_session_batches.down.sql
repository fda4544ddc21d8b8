DROP FUNCTION adam_live_sessions(UUID[]);
