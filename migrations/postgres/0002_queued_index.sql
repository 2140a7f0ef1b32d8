-- The assignment sweep looks for organizations with queued conversations every few seconds.
CREATE INDEX conversations_queued_idx ON conversations (organization_id) WHERE status = 'queued';
