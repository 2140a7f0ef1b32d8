-- Inbox items are indexed by state only while they are not done: an item's claim (pending -> done)
-- no longer inserts index entries, the indexes stay the size of the backlog instead of growing
-- with every item ever received, and a claim by id cannot be planned as a scan of all pending items.
DROP INDEX inbox_items_state_idx;
DROP INDEX inbox_items_conversation_idx;
CREATE INDEX inbox_items_pending_idx ON inbox_items (id) WHERE state = 'pending';
CREATE INDEX inbox_items_failed_idx ON inbox_items (id) WHERE state = 'failed';
CREATE INDEX inbox_items_pending_conversation_idx ON inbox_items (number_id, contact_wa_id, id) WHERE state = 'pending';
