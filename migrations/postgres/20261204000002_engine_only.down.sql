DROP PROCEDURE adam_engine_only(REGCLASS);
