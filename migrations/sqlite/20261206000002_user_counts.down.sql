DROP TRIGGER users_recounted;
DROP TRIGGER users_uncounted;
DROP TRIGGER users_counted;
DROP TABLE user_counts;
