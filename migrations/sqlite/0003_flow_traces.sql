-- The SQL archive's flow execution traces (when no MongoDB is configured): one row per engine run,
-- written in batches off the hot path and pruned after archive.trace_retention_days.
CREATE TABLE flow_traces (
    id BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL,
    conversation_id BLOB NOT NULL,
    flow_id BLOB NOT NULL,
    version_id BLOB,
    input TEXT NOT NULL,
    entered TEXT NOT NULL,
    effects TEXT NOT NULL,
    duration_us INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX flow_traces_conversation_idx ON flow_traces (organization_id, conversation_id, created_at);
CREATE INDEX flow_traces_created_idx ON flow_traces (created_at);
