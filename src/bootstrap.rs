//! First start: with an empty database, create the "Default" organization and one super_admin
//! (email and password from `bootstrap.*`; without a password, a random one is logged once).

use crate::app::StartupError;
use crate::repo::{organizations, users};
use crate::services::organizations::new_row;
use crate::state::AppState;

pub async fn ensure_initial_data(state: &AppState) -> Result<(), StartupError> {
    let mut c = state.db.conn().await?;
    if organizations::count_all(&mut c).await? > 0 {
        return Ok(());
    }
    drop(c);
    let b = &state.settings.bootstrap;
    let (password, generated) = match &b.admin_password {
        Some(p) => (p.expose().to_string(), false),
        None => (crate::config::random_token(18), true),
    };
    let now = state.now();
    let org = new_row("Default", "default", None, None, now);
    let user = users::UserRow {
        id: uuid::Uuid::now_v7(),
        organization_id: org.id,
        email: crate::services::auth::normalize_email(&b.admin_email),
        password_hash: state.passwords.hash(password.clone()).await?,
        full_name: "Administrator".into(),
        role: "super_admin".into(),
        is_active: true,
        agent_status: "offline".into(),
        max_concurrent_conversations: crate::services::users::DEFAULT_MAX_CONVERSATIONS,
        failed_login_attempts: 0,
        locked_until: None,
        last_login_at: None,
        created_at: now,
        updated_at: now,
    };
    let mut tx = state.db.begin().await?;
    let inserted = async {
        organizations::insert(&mut tx, &org).await?;
        users::insert(&mut tx, &user).await
    }
    .await;
    match inserted {
        // Another node bootstrapped the same empty database first.
        Err(e) if e.is_unique_violation() => {
            tx.rollback().await?;
            return Ok(());
        }
        other => other?,
    }
    tx.commit().await?;
    if generated {
        tracing::warn!(
            email = %user.email,
            password = %password,
            "created the first super_admin with a generated password; it is shown only this once: sign in and change it"
        );
    } else {
        tracing::info!(email = %user.email, "created the first super_admin from bootstrap settings");
    }
    Ok(())
}
