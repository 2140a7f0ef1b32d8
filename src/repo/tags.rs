//! Tags of an organization, and the tags on conversations.

use crate::db::{Conn, StoreError};
use crate::{sql_exec, sql_scalar};
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use uuid::Uuid;

/// The tag called `name`, created when new.
pub async fn ensure(c: &mut dyn Conn, org: OrgId, name: &str, now: DateTime<Utc>) -> Result<Uuid, StoreError> {
    sql_exec!(
        c,
        "INSERT INTO tags (id, organization_id, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (organization_id, name) DO NOTHING",
        Uuid::now_v7(),
        org.as_uuid(),
        name,
        now
    )?;
    Ok(sql_scalar!(
        c,
        fetch_one,
        Uuid,
        "SELECT id FROM tags WHERE organization_id = $1 AND name = $2",
        org.as_uuid(),
        name
    )?)
}

pub async fn tag_conversation(
    c: &mut dyn Conn,
    org: OrgId,
    conversation: Uuid,
    tag: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "INSERT INTO conversation_tags (organization_id, conversation_id, tag_id, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
        org.as_uuid(),
        conversation,
        tag,
        now
    )?;
    Ok(())
}

/// Removes a tag (by name) from a conversation; false when it was not there.
pub async fn untag_conversation(
    c: &mut dyn Conn,
    org: OrgId,
    conversation: Uuid,
    name: &str,
) -> Result<bool, StoreError> {
    let n = sql_exec!(
        c,
        "DELETE FROM conversation_tags WHERE organization_id = $1 AND conversation_id = $2
           AND tag_id IN (SELECT id FROM tags WHERE organization_id = $1 AND name = $3)",
        org.as_uuid(),
        conversation,
        name
    )?;
    Ok(n > 0)
}

/// A conversation's tag names, sorted.
pub async fn of_conversation(c: &mut dyn Conn, org: OrgId, conversation: Uuid) -> Result<Vec<String>, StoreError> {
    Ok(sql_scalar!(
        c,
        fetch_all,
        String,
        "SELECT t.name FROM conversation_tags ct JOIN tags t ON t.id = ct.tag_id
         WHERE ct.organization_id = $1 AND ct.conversation_id = $2 ORDER BY t.name",
        org.as_uuid(),
        conversation
    )?)
}
