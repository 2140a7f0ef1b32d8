-- PyTake schema, version 1: the whole domain, SQLite dialect.
-- Same text as migrations/postgres/0001_init.sql with SQLite types: UUID -> BLOB (sqlx stores Uuid as
-- 16 bytes), TIMESTAMPTZ -> TEXT (RFC 3339 bound from Rust), JSONB -> TEXT (a JSON scalar would not
-- decode from NUMERIC affinity). A test asserts both define the same tables and columns.

CREATE TABLE organizations (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    timezone TEXT NOT NULL,
    settings TEXT NOT NULL,
    is_active BOOLEAN NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE UNIQUE INDEX organizations_slug_uq ON organizations (slug);

CREATE TABLE users (
    id BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    full_name TEXT NOT NULL,
    role TEXT NOT NULL,
    is_active BOOLEAN NOT NULL,
    agent_status TEXT NOT NULL,
    max_concurrent_conversations INTEGER NOT NULL,
    failed_login_attempts INTEGER NOT NULL,
    locked_until TEXT,
    last_login_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE UNIQUE INDEX users_email_uq ON users (email);
CREATE INDEX users_org_idx ON users (organization_id, id);

CREATE TABLE refresh_tokens (
    id BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    user_id BLOB NOT NULL REFERENCES users (id),
    family_id BLOB NOT NULL,
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    used_at TEXT,
    revoked_at TEXT,
    revoked_reason TEXT,
    user_agent TEXT,
    ip TEXT
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

CREATE TABLE departments (
    id BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    description TEXT,
    is_active BOOLEAN NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX departments_org_idx ON departments (organization_id, id);

CREATE TABLE user_departments (
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    user_id BLOB NOT NULL REFERENCES users (id),
    department_id BLOB NOT NULL REFERENCES departments (id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, department_id)
);
CREATE INDEX user_departments_dept_idx ON user_departments (organization_id, department_id);

CREATE TABLE queues (
    id BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    department_id BLOB REFERENCES departments (id),
    name TEXT NOT NULL,
    priority INTEGER NOT NULL,
    sla_minutes INTEGER,
    max_size INTEGER,
    overflow_queue_id BLOB REFERENCES queues (id),
    strategy TEXT NOT NULL,
    is_active BOOLEAN NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX queues_org_idx ON queues (organization_id, id);

CREATE TABLE chatbots (
    id BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    description TEXT,
    is_active BOOLEAN NOT NULL,
    triggers TEXT NOT NULL,
    main_flow_id BLOB,
    fallback_flow_id BLOB,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX chatbots_org_idx ON chatbots (organization_id, id);

CREATE TABLE flows (
    id BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    chatbot_id BLOB REFERENCES chatbots (id),
    name TEXT NOT NULL,
    description TEXT,
    definition TEXT NOT NULL,
    settings TEXT NOT NULL,
    latest_version INTEGER NOT NULL,
    published_version_id BLOB,
    is_active BOOLEAN NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX flows_org_idx ON flows (organization_id, id);

CREATE TABLE flow_versions (
    id BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    flow_id BLOB NOT NULL REFERENCES flows (id),
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_by BLOB,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX flow_versions_flow_version_uq ON flow_versions (flow_id, version);

CREATE TABLE whatsapp_numbers (
    id BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    phone_number_id TEXT NOT NULL,
    waba_id TEXT,
    display_phone_number TEXT,
    display_name TEXT,
    access_token_enc TEXT,
    app_secret_enc TEXT,
    verify_token_enc TEXT,
    verify_token_hash TEXT,
    default_chatbot_id BLOB REFERENCES chatbots (id),
    default_flow_id BLOB REFERENCES flows (id),
    default_department_id BLOB REFERENCES departments (id),
    messages_per_second INTEGER NOT NULL,
    status TEXT NOT NULL,
    quality_rating TEXT,
    token_invalid_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
-- A phone_number_id belongs to one organization only, deleted or not (Meta routes by it).
CREATE UNIQUE INDEX whatsapp_numbers_phone_number_id_uq ON whatsapp_numbers (phone_number_id);
CREATE INDEX whatsapp_numbers_org_idx ON whatsapp_numbers (organization_id, id);
CREATE INDEX whatsapp_numbers_verify_token_idx ON whatsapp_numbers (verify_token_hash);

CREATE TABLE chatbot_numbers (
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    chatbot_id BLOB NOT NULL REFERENCES chatbots (id),
    number_id BLOB NOT NULL REFERENCES whatsapp_numbers (id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (chatbot_id, number_id)
);
CREATE INDEX chatbot_numbers_number_idx ON chatbot_numbers (organization_id, number_id);

CREATE TABLE contacts (
    id BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    wa_id TEXT NOT NULL,
    name TEXT,
    profile_name TEXT,
    email TEXT,
    phone TEXT,
    company TEXT,
    attributes TEXT NOT NULL,
    lifecycle_stage TEXT,
    is_blocked BOOLEAN NOT NULL,
    blocked_reason TEXT,
    is_vip BOOLEAN NOT NULL,
    opt_in BOOLEAN NOT NULL,
    opt_in_at TEXT,
    opt_out_at TEXT,
    last_inbound_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE UNIQUE INDEX contacts_org_wa_id_uq ON contacts (organization_id, wa_id);
CREATE INDEX contacts_org_idx ON contacts (organization_id, id);

CREATE TABLE tags (
    id BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    color TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX tags_org_name_uq ON tags (organization_id, name);

CREATE TABLE contact_tags (
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    contact_id BLOB NOT NULL REFERENCES contacts (id),
    tag_id BLOB NOT NULL REFERENCES tags (id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (contact_id, tag_id)
);
CREATE INDEX contact_tags_tag_idx ON contact_tags (organization_id, tag_id);

CREATE TABLE conversations (
    id BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    contact_id BLOB NOT NULL REFERENCES contacts (id),
    number_id BLOB NOT NULL REFERENCES whatsapp_numbers (id),
    status TEXT NOT NULL,
    is_bot_active BOOLEAN NOT NULL,
    assigned_agent_id BLOB REFERENCES users (id),
    department_id BLOB REFERENCES departments (id),
    queue_id BLOB REFERENCES queues (id),
    priority INTEGER NOT NULL,
    handoff_note TEXT,
    queued_at TEXT,
    assigned_at TEXT,
    first_response_at TEXT,
    closed_at TEXT,
    last_message_at TEXT,
    last_inbound_at TEXT,
    window_expires_at TEXT,
    unread_count INTEGER NOT NULL,
    flow_id BLOB REFERENCES flows (id),
    flow_version_id BLOB REFERENCES flow_versions (id),
    flow_state TEXT NOT NULL,
    sla_breached_at TEXT,
    version BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- At most one conversation that is not closed per contact and number: inbound messages join it.
CREATE UNIQUE INDEX conversations_open_uq ON conversations (organization_id, number_id, contact_id) WHERE status <> 'closed';
CREATE INDEX conversations_org_idx ON conversations (organization_id, id);
CREATE INDEX conversations_org_status_idx ON conversations (organization_id, status, priority, queued_at);
CREATE INDEX conversations_agent_idx ON conversations (organization_id, assigned_agent_id, status);
CREATE INDEX conversations_contact_idx ON conversations (organization_id, contact_id);

CREATE TABLE conversation_tags (
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    conversation_id BLOB NOT NULL REFERENCES conversations (id),
    tag_id BLOB NOT NULL REFERENCES tags (id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (conversation_id, tag_id)
);

CREATE TABLE messages (
    id BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    conversation_id BLOB NOT NULL REFERENCES conversations (id),
    number_id BLOB NOT NULL REFERENCES whatsapp_numbers (id),
    direction TEXT NOT NULL,
    sender_type TEXT NOT NULL,
    sender_user_id BLOB,
    wamid TEXT,
    message_type TEXT NOT NULL,
    text TEXT,
    content TEXT NOT NULL,
    status TEXT NOT NULL,
    error_code INTEGER,
    error_title TEXT,
    error_details TEXT,
    reply_to_wamid TEXT,
    reply_to_message_id BLOB,
    client_id TEXT,
    is_internal_note BOOLEAN NOT NULL,
    wa_timestamp TEXT,
    sent_at TEXT,
    delivered_at TEXT,
    read_at TEXT,
    failed_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX messages_number_wamid_uq ON messages (number_id, wamid) WHERE wamid IS NOT NULL;
CREATE UNIQUE INDEX messages_client_id_uq ON messages (conversation_id, client_id) WHERE client_id IS NOT NULL;
CREATE INDEX messages_conversation_idx ON messages (organization_id, conversation_id, id);

CREATE TABLE webhook_deliveries (
    id BLOB PRIMARY KEY,
    received_at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    body_size INTEGER NOT NULL,
    body TEXT,
    item_count INTEGER NOT NULL,
    duplicate_count INTEGER NOT NULL,
    error TEXT,
    source_ip TEXT
);
CREATE INDEX webhook_deliveries_received_idx ON webhook_deliveries (received_at);

CREATE TABLE inbox_items (
    id BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    delivery_id BLOB REFERENCES webhook_deliveries (id),
    number_id BLOB NOT NULL REFERENCES whatsapp_numbers (id),
    kind TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    contact_wa_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    wa_timestamp TEXT,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    created_at TEXT NOT NULL,
    processed_at TEXT
);
CREATE UNIQUE INDEX inbox_items_dedup_uq ON inbox_items (dedup_key);
CREATE INDEX inbox_items_state_idx ON inbox_items (state, id);
CREATE INDEX inbox_items_conversation_idx ON inbox_items (number_id, contact_wa_id, state, id);

CREATE TABLE outbox (
    id BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    number_id BLOB NOT NULL REFERENCES whatsapp_numbers (id),
    conversation_id BLOB REFERENCES conversations (id),
    message_id BLOB REFERENCES messages (id),
    recipient TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TEXT NOT NULL,
    last_error_code INTEGER,
    last_error TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX outbox_state_idx ON outbox (state, next_attempt_at);
CREATE INDEX outbox_recipient_idx ON outbox (number_id, recipient, state, id);

CREATE TABLE timers (
    id BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    conversation_id BLOB NOT NULL REFERENCES conversations (id),
    kind TEXT NOT NULL,
    due_at TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    fired_at TEXT
);
CREATE INDEX timers_due_idx ON timers (state, due_at);
CREATE INDEX timers_conversation_idx ON timers (organization_id, conversation_id, state);

CREATE TABLE org_events (
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    seq BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    conversation_id BLOB,
    data TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (organization_id, seq)
);

CREATE TABLE audit_log (
    id BLOB PRIMARY KEY,
    organization_id BLOB REFERENCES organizations (id),
    actor_user_id BLOB,
    action TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id BLOB,
    before_state TEXT,
    after_state TEXT,
    ip TEXT,
    request_id TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX audit_log_org_idx ON audit_log (organization_id, id);

CREATE TABLE whatsapp_templates (
    id BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    number_id BLOB NOT NULL REFERENCES whatsapp_numbers (id),
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    category TEXT NOT NULL,
    status TEXT NOT NULL,
    components TEXT NOT NULL,
    parameter_format TEXT NOT NULL,
    meta_template_id TEXT,
    quality_rating TEXT,
    rejected_reason TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE UNIQUE INDEX whatsapp_templates_uq ON whatsapp_templates (number_id, name, language) WHERE deleted_at IS NULL;

CREATE TABLE campaigns (
    id BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    number_id BLOB NOT NULL REFERENCES whatsapp_numbers (id),
    template_id BLOB REFERENCES whatsapp_templates (id),
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    audience TEXT NOT NULL,
    parameters TEXT NOT NULL,
    scheduled_at TEXT,
    started_at TEXT,
    paused_at TEXT,
    completed_at TEXT,
    created_by BLOB,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX campaigns_org_idx ON campaigns (organization_id, id);
CREATE INDEX campaigns_status_idx ON campaigns (status, scheduled_at);

CREATE TABLE campaign_recipients (
    id BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    campaign_id BLOB NOT NULL REFERENCES campaigns (id),
    contact_id BLOB NOT NULL REFERENCES contacts (id),
    wa_id TEXT NOT NULL,
    parameters TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TEXT,
    message_id BLOB,
    wamid TEXT,
    error_code INTEGER,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX campaign_recipients_uq ON campaign_recipients (campaign_id, contact_id);
CREATE INDEX campaign_recipients_status_idx ON campaign_recipients (campaign_id, status, id);
CREATE INDEX campaign_recipients_wamid_idx ON campaign_recipients (wamid);

CREATE TABLE canned_responses (
    id BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    shortcut TEXT NOT NULL,
    title TEXT,
    text TEXT NOT NULL,
    created_by BLOB,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE UNIQUE INDEX canned_responses_shortcut_uq ON canned_responses (organization_id, shortcut) WHERE deleted_at IS NULL;

CREATE TABLE analytics_events (
    id BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    conversation_id BLOB,
    flow_id BLOB,
    node_id TEXT,
    event_name TEXT NOT NULL,
    properties TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX analytics_events_org_idx ON analytics_events (organization_id, event_name, created_at);
CREATE INDEX analytics_events_flow_idx ON analytics_events (organization_id, flow_id, node_id);

CREATE TABLE archive_records (
    id BLOB PRIMARY KEY,
    organization_id BLOB,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX archive_records_kind_idx ON archive_records (kind, created_at);
