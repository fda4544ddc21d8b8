DROP TRIGGER users_recounted ON users;
DROP TRIGGER users_counted ON users;
DROP FUNCTION adam_count_users();
DROP TABLE user_counts;
