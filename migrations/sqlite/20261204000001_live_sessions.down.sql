DROP VIEW live_sessions;
