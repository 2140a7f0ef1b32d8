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

