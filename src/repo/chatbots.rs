//! Chatbots: a name, triggers (keywords, default, fallback), a main and a fallback flow, and the
//! WhatsApp numbers they answer on.

use crate::db::{Conn, StoreError};
use crate::{sql_as, sql_exec, sql_scalar};
use chrono::{DateTime, Utc};
use pytake_actors::OrgId;
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ChatbotRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub is_active: bool,
    pub triggers: Json<Value>,
    pub main_flow_id: Option<Uuid>,
    pub fallback_flow_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn insert(c: &mut dyn Conn, b: &ChatbotRow) -> Result<(), StoreError> {
    sql_exec!(
        c,
        "INSERT INTO chatbots (id, organization_id, name, description, is_active, triggers, main_flow_id, fallback_flow_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        b.id,
        b.organization_id,
        &b.name,
        &b.description,
        b.is_active,
        &b.triggers,
        b.main_flow_id,
        b.fallback_flow_id,
        b.created_at,
        b.updated_at
    )?;
    Ok(())
}

pub async fn update(c: &mut dyn Conn, org: OrgId, b: &ChatbotRow) -> Result<bool, StoreError> {
    let n = sql_exec!(
        c,
        "UPDATE chatbots SET name = $3, description = $4, is_active = $5, triggers = $6, main_flow_id = $7, fallback_flow_id = $8,
             updated_at = $9
         WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
        org.as_uuid(),
        b.id,
        &b.name,
        &b.description,
        b.is_active,
        &b.triggers,
        b.main_flow_id,
        b.fallback_flow_id,
        b.updated_at
    )?;
    Ok(n == 1)
}

pub async fn get(c: &mut dyn Conn, org: OrgId, id: Uuid) -> Result<Option<ChatbotRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_optional,
        ChatbotRow,
        "SELECT id, organization_id, name, description, is_active, triggers, main_flow_id, fallback_flow_id, created_at, updated_at
         FROM chatbots WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
        org.as_uuid(),
        id
    )?)
}

pub async fn list(
    c: &mut dyn Conn,
    org: OrgId,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<ChatbotRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        ChatbotRow,
        "SELECT id, organization_id, name, description, is_active, triggers, main_flow_id, fallback_flow_id, created_at, updated_at
         FROM chatbots WHERE organization_id = $1 AND deleted_at IS NULL AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3",
        org.as_uuid(),
        after,
        i64::from(limit) + 1
    )?)
}

pub async fn soft_delete(c: &mut dyn Conn, org: OrgId, id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError> {
    sql_exec!(c, "DELETE FROM chatbot_numbers WHERE organization_id = $1 AND chatbot_id = $2", org.as_uuid(), id)?;
    let n = sql_exec!(
        c,
        "UPDATE chatbots SET deleted_at = $3, updated_at = $3 WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
        org.as_uuid(),
        id,
        now
    )?;
    Ok(n == 1)
}

/// Replaces the numbers a chatbot answers on.
pub async fn set_numbers(
    c: &mut dyn Conn,
    org: OrgId,
    chatbot: Uuid,
    numbers: &[Uuid],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sql_exec!(c, "DELETE FROM chatbot_numbers WHERE organization_id = $1 AND chatbot_id = $2", org.as_uuid(), chatbot)?;
    for n in numbers {
        sql_exec!(
            c,
            "INSERT INTO chatbot_numbers (organization_id, chatbot_id, number_id, created_at) VALUES ($1, $2, $3, $4)",
            org.as_uuid(),
            chatbot,
            *n,
            now
        )?;
    }
    Ok(())
}

pub async fn numbers_of(c: &mut dyn Conn, org: OrgId, chatbot: Uuid) -> Result<Vec<Uuid>, StoreError> {
    Ok(sql_scalar!(
        c,
        fetch_all,
        Uuid,
        "SELECT number_id FROM chatbot_numbers WHERE organization_id = $1 AND chatbot_id = $2 ORDER BY number_id",
        org.as_uuid(),
        chatbot
    )?)
}

/// The active chatbots bound to a number, oldest first (for routing a new conversation).
pub async fn for_number(c: &mut dyn Conn, org: OrgId, number: Uuid) -> Result<Vec<ChatbotRow>, StoreError> {
    Ok(sql_as!(
        c,
        fetch_all,
        ChatbotRow,
        "SELECT b.id, b.organization_id, b.name, b.description, b.is_active, b.triggers, b.main_flow_id, b.fallback_flow_id,
             b.created_at, b.updated_at
         FROM chatbots b JOIN chatbot_numbers n ON n.chatbot_id = b.id
         WHERE b.organization_id = $1 AND n.number_id = $2 AND b.deleted_at IS NULL AND b.is_active = $3 ORDER BY b.id",
        org.as_uuid(),
        number,
        true
    )?)
}
