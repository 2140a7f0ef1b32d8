-- The SQL archive's flow execution traces (when no MongoDB is configured): one row per engine run,
-- written in batches off the hot path and pruned after archive.trace_retention_days.
CREATE TABLE flow_traces (
    id UUID PRIMARY KEY,
    organization_id UUID NOT NULL,
    conversation_id UUID NOT NULL,
    flow_id UUID NOT NULL,
    version_id UUID,
    input JSONB NOT NULL,
    entered JSONB NOT NULL,
    effects JSONB NOT NULL,
    duration_us BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX flow_traces_conversation_idx ON flow_traces (organization_id, conversation_id, created_at);
CREATE INDEX flow_traces_created_idx ON flow_traces (created_at);
