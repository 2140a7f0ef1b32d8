-- PostgreSQL only (pytake_commit_check for the single-statement commit of a change set, and
-- planner statistics targets): SQLite has neither. Kept so both dialects share version numbers.
SELECT 1;
