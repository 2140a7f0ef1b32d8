-- The common change set of a conversation actor (claim the item, update the conversation, store its
-- messages) is committed in one statement on PostgreSQL, all or nothing. The statement ends with
-- pytake_commit_check(every row written): when a claim, a version check or a message insert wrote
-- less than asked, it raises SQLSTATE PT409, which rolls the whole statement back; the server then
-- commits those change sets the general way, which tells each one's outcome apart.
CREATE FUNCTION pytake_commit_check(complete boolean) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF complete IS NOT TRUE THEN
        RAISE EXCEPTION 'pytake: a single-statement commit wrote less than asked' USING ERRCODE = 'PT409';
    END IF;
    RETURN true;
END
$$;

-- Planner statistics skip the wide columns no query filters or joins on: an ANALYZE of a table that
-- is growing fast (run by the server's statistics keeper and by autovacuum) no longer detoasts and
-- sorts thousands of payloads (it took 130-300 ms of a core per table at 3,000 deliveries/s).
ALTER TABLE inbox_items ALTER COLUMN payload SET STATISTICS 0, ALTER COLUMN last_error SET STATISTICS 0;
ALTER TABLE messages ALTER COLUMN text SET STATISTICS 0, ALTER COLUMN content SET STATISTICS 0,
    ALTER COLUMN error_title SET STATISTICS 0, ALTER COLUMN error_details SET STATISTICS 0;
ALTER TABLE webhook_deliveries ALTER COLUMN body SET STATISTICS 0, ALTER COLUMN error SET STATISTICS 0,
    ALTER COLUMN body_sha256 SET STATISTICS 0;
ALTER TABLE outbox ALTER COLUMN payload SET STATISTICS 0, ALTER COLUMN last_error SET STATISTICS 0;
ALTER TABLE analytics_events ALTER COLUMN properties SET STATISTICS 0;
ALTER TABLE archive_records ALTER COLUMN data SET STATISTICS 0;
ALTER TABLE flow_traces ALTER COLUMN input SET STATISTICS 0, ALTER COLUMN entered SET STATISTICS 0,
    ALTER COLUMN effects SET STATISTICS 0;
ALTER TABLE conversations ALTER COLUMN flow_state SET STATISTICS 0;
ALTER TABLE contacts ALTER COLUMN attributes SET STATISTICS 0;
