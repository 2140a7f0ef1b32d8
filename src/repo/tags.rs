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

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TagRow {
    pub id: Uuid,
    pub name: String,
    pub color: Option<String>,
    pub contacts: i64,
    pub conversations: i64,
    pub created_at: DateTime<Utc>,
}

/// The organization's tags with how many contacts and conversations carry each, oldest first.
pub async fn list(c: &mut dyn Conn, org: OrgId, after: Option<Uuid>, limit: u32) -> Result<Vec<TagRow>, StoreError> {
    Ok(crate::sql_as!(
        c,
        fetch_all,
        TagRow,
        "SELECT t.id, t.name, t.color,
             CAST((SELECT COUNT(*) FROM contact_tags ct WHERE ct.tag_id = t.id) AS BIGINT) AS contacts,
             CAST((SELECT COUNT(*) FROM conversation_tags vt WHERE vt.tag_id = t.id) AS BIGINT) AS conversations,
             t.created_at
         FROM tags t WHERE t.organization_id = $1 AND ($2 IS NULL OR t.id > $2) ORDER BY t.id LIMIT $3",
        org.as_uuid(),
        after,
        i64::from(limit) + 1
    )?)
}

pub async fn get(c: &mut dyn Conn, org: OrgId, id: Uuid) -> Result<Option<TagRow>, StoreError> {
    Ok(crate::sql_as!(
        c,
        fetch_optional,
        TagRow,
        "SELECT t.id, t.name, t.color,
             CAST((SELECT COUNT(*) FROM contact_tags ct WHERE ct.tag_id = t.id) AS BIGINT) AS contacts,
             CAST((SELECT COUNT(*) FROM conversation_tags vt WHERE vt.tag_id = t.id) AS BIGINT) AS conversations,
             t.created_at
         FROM tags t WHERE t.organization_id = $1 AND t.id = $2",
        org.as_uuid(),
        id
    )?)
}

/// Renames or recolors a tag; false when the new name is taken.
pub async fn update(
    c: &mut dyn Conn,
    org: OrgId,
    id: Uuid,
    name: &str,
    color: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    match sql_exec!(
        c,
        "UPDATE tags SET name = $3, color = $4, updated_at = $5 WHERE organization_id = $1 AND id = $2",
        org.as_uuid(),
        id,
        name,
        color,
        now
    ) {
        Ok(_) => Ok(true),
        Err(e) if crate::db::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Deletes a tag and takes it off every contact and conversation.
pub async fn delete(c: &mut dyn Conn, org: OrgId, id: Uuid) -> Result<bool, StoreError> {
    sql_exec!(c, "DELETE FROM contact_tags WHERE organization_id = $1 AND tag_id = $2", org.as_uuid(), id)?;
    sql_exec!(c, "DELETE FROM conversation_tags WHERE organization_id = $1 AND tag_id = $2", org.as_uuid(), id)?;
    let n = sql_exec!(c, "DELETE FROM tags WHERE organization_id = $1 AND id = $2", org.as_uuid(), id)?;
    Ok(n == 1)
}
