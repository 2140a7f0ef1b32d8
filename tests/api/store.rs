//! The set-wise commit of many actors' change sets, against the real database: each change set's
//! outcome is derived correctly and a failed one leaves no trace.

use crate::helpers::*;
use pytake::repo::{contacts, conversations, inbox};
use pytake::store::steps::{ChangesOutcome, apply_changes_batch};
use pytake_actors::OrgId;
use pytake_actors::domain::conversation::*;
use pytake_actors::domain::message::MessageStatus;
use serde_json::json;
use uuid::Uuid;

fn new_message(wamid: &str, text: &str) -> NewMessage {
    NewMessage {
        id: Uuid::now_v7(),
        direction: Direction::Inbound,
        sender_type: SenderType::Contact,
        sender_user_id: None,
        wamid: Some(wamid.into()),
        message_type: "text".into(),
        text: Some(text.into()),
        content: json!({"body": text}),
        status: MessageStatus::Received,
        reply_to_wamid: None,
        client_id: None,
        is_internal_note: false,
        wa_timestamp: None,
        error: None,
        created_at: chrono::Utc::now(),
    }
}

#[actix_web::test]
async fn each_change_set_in_a_batch_gets_its_own_outcome() {
    let app = spawn_app().await;
    let t = app.tenant("batch").await;
    let number = app.create_number(&t.admin.token, PNID, Some(APP_SECRET)).await;
    let number_id: Uuid = number["id"].as_str().unwrap().parse().unwrap();
    for (i, contact) in ["111", "222", "333", "444"].iter().enumerate() {
        app.deliver(&text_delivery(PNID, contact, &format!("wamid.seed{i}"), "seed"), APP_SECRET).await.expect(200);
    }
    app.drained().await;
    #[allow(clippy::disallowed_methods)]
    let org = OrgId::assume_verified(t.org_id.parse().unwrap());
    let key = |wa: &str| ConversationKey { org, number_id, contact_wa_id: wa.into() };
    let mut records = Vec::new();
    let mut c = app.state.db.conn().await.unwrap();
    for wa in ["111", "222", "333", "444"] {
        let contact = contacts::find_by_wa_id(&mut c, org, wa).await.unwrap().unwrap();
        records.push(
            conversations::find_open(&mut c, org, number_id, contact.id).await.unwrap().unwrap().record().unwrap(),
        );
    }
    drop(c);
    let (r1, r2, r3, r4) = (&records[0], &records[1], &records[2], &records[3]);
    // Four pending items to claim.
    let delivery = pytake::repo::inbox::DeliveryRow {
        id: Uuid::now_v7(),
        received_at: chrono::Utc::now(),
        outcome: "accepted".into(),
        body_sha256: "x".into(),
        body_size: 1,
        body: None,
        item_count: 4,
        duplicate_count: 0,
        error: None,
        source_ip: None,
    };
    let items: Vec<inbox::NewInboxItem> = (0..4)
        .map(|i| inbox::NewInboxItem {
            id: Uuid::now_v7(),
            organization_id: org.as_uuid(),
            number_id,
            kind: "message",
            dedup_key: format!("test:{i}"),
            contact_wa_id: "x".into(),
            payload: json!({}),
            wa_timestamp: None,
        })
        .collect();
    let mut tx = app.state.db.begin().await.unwrap();
    let pairs: Vec<(Uuid, &inbox::NewInboxItem)> = items.iter().map(|i| (delivery.id, i)).collect();
    inbox::insert_batch(&mut tx, &[&delivery], &pairs, chrono::Utc::now()).await.unwrap();
    // The fourth item is already processed.
    inbox::mark_done(&mut tx, items[3].id, None, chrono::Utc::now()).await.unwrap();
    tx.commit().await.unwrap();

    let update = |r: &ConversationRecord, version: i64| {
        let mut r = r.clone();
        r.unread_count += 1;
        r.version = version;
        Some(ConversationWrite::Update(r))
    };
    let ok = Changes {
        inbox_item: Some(items[0].id),
        contact: None,
        conversation: update(r1, r1.version),
        messages: vec![new_message("wamid.ok", "fresh")],
        ..Default::default()
    };
    let stale = Changes {
        inbox_item: Some(items[1].id),
        contact: None,
        conversation: update(r2, r2.version + 7),
        messages: vec![new_message("wamid.stale", "stale")],
        ..Default::default()
    };
    let duplicate = Changes {
        inbox_item: Some(items[2].id),
        contact: None,
        conversation: update(r3, r3.version),
        messages: vec![new_message("wamid.seed0", "dup")],
        ..Default::default()
    };
    let claimed = Changes {
        inbox_item: Some(items[3].id),
        contact: None,
        conversation: update(r4, r4.version),
        messages: vec![new_message("wamid.late", "late")],
        ..Default::default()
    };
    let (k1, k2, k3, k4) = (key("111"), key("222"), key("333"), key("444"));
    let sets = vec![(&k1, &ok), (&k2, &stale), (&k3, &duplicate), (&k4, &claimed)];
    let mut tx = app.state.db.begin().await.unwrap();
    let outcomes = apply_changes_batch(&mut tx, &sets, chrono::Utc::now()).await.unwrap();
    tx.commit().await.unwrap();

    assert!(
        matches!(&outcomes[0], ChangesOutcome::Committed(c) if c.conversation.as_ref().unwrap().version == r1.version + 1)
    );
    assert!(matches!(outcomes[1], ChangesOutcome::Conflict));
    assert!(matches!(outcomes[2], ChangesOutcome::AlreadyProcessed));
    assert!(matches!(outcomes[3], ChangesOutcome::AlreadyProcessed));
    // Effects: only the first change set left a trace.
    assert_eq!(app.scalar("SELECT COUNT(*) FROM messages WHERE wamid IN ('wamid.ok')").await, 1);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM messages WHERE wamid IN ('wamid.stale', 'wamid.late')").await, 0);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM messages WHERE wamid = 'wamid.seed0'").await, 1);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM inbox_items WHERE dedup_key = 'test:1' AND state = 'pending'").await,
        1,
        "the conflicted item is pending again"
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM inbox_items WHERE dedup_key = 'test:2' AND state = 'done' AND last_error = 'duplicate message'").await, 1);
    let unread = |wa: &str| {
        format!(
            "SELECT CAST(v.unread_count AS BIGINT) FROM conversations v JOIN contacts k ON k.id = v.contact_id WHERE k.wa_id = '{wa}'"
        )
    };
    assert_eq!(app.scalar(&unread("111")).await, 2);
    assert_eq!(app.scalar(&unread("222")).await, 1, "a conflicting update changed nothing");
    assert_eq!(app.scalar(&unread("333")).await, 1, "a duplicate changed nothing");
}

#[actix_web::test]
async fn each_status_in_a_batch_gets_its_own_outcome() {
    use pytake::store::steps::{StatusOutcome, apply_statuses_batch};
    use pytake_actors::domain::inbound::StatusUpdate;
    let app = spawn_app().await;
    let t = app.tenant("statusbatch").await;
    let number = app.create_number(&t.admin.token, PNID, Some(APP_SECRET)).await;
    let number_id: Uuid = number["id"].as_str().unwrap().parse().unwrap();
    app.deliver(&text_delivery(PNID, CONTACT, "wamid.in", "hi"), APP_SECRET).await.expect(200);
    app.drained().await;
    #[allow(clippy::disallowed_methods)]
    let org = OrgId::assume_verified(t.org_id.parse().unwrap());
    let conv = app.conversations(&t.admin.token).await[0].clone();
    let conv_id: Uuid = conv["id"].as_str().unwrap().parse().unwrap();
    // Two messages of ours: one sent, one already read.
    let mut tx = app.state.db.begin().await.unwrap();
    for (wamid, status) in [("wamid.a", MessageStatus::Sent), ("wamid.b", MessageStatus::Read)] {
        let mut m = new_message(wamid, "ours");
        m.direction = Direction::Outbound;
        m.sender_type = SenderType::Bot;
        m.status = status;
        pytake::repo::messages::insert(&mut tx, org, conv_id, number_id, &m, None).await.unwrap();
    }
    let delivery = inbox::DeliveryRow {
        id: Uuid::now_v7(),
        received_at: chrono::Utc::now(),
        outcome: "accepted".into(),
        body_sha256: "x".into(),
        body_size: 1,
        body: None,
        item_count: 4,
        duplicate_count: 0,
        error: None,
        source_ip: None,
    };
    let items: Vec<inbox::NewInboxItem> = (0..4)
        .map(|i| inbox::NewInboxItem {
            id: Uuid::now_v7(),
            organization_id: org.as_uuid(),
            number_id,
            kind: "status",
            dedup_key: format!("s:{i}"),
            contact_wa_id: CONTACT.into(),
            payload: json!({}),
            wa_timestamp: None,
        })
        .collect();
    let pairs: Vec<(Uuid, &inbox::NewInboxItem)> = items.iter().map(|i| (delivery.id, i)).collect();
    inbox::insert_batch(&mut tx, &[&delivery], &pairs, chrono::Utc::now()).await.unwrap();
    inbox::mark_done(&mut tx, items[3].id, None, chrono::Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    let status = |wamid: &str, s: &str| StatusUpdate {
        wamid: wamid.into(),
        status: s.into(),
        timestamp: Some(1751142885),
        recipient_id: CONTACT.into(),
        biz_opaque_callback_data: None,
        errors: vec![],
        pricing: None,
    };
    let key = ConversationKey { org, number_id, contact_wa_id: CONTACT.into() };
    let (s0, s1, s2, s3) = (
        status("wamid.a", "delivered"),
        status("wamid.b", "delivered"),
        status("wamid.none", "read"),
        status("wamid.a", "read"),
    );
    let sets =
        vec![(&key, items[0].id, &s0), (&key, items[1].id, &s1), (&key, items[2].id, &s2), (&key, items[3].id, &s3)];
    let mut tx = app.state.db.begin().await.unwrap();
    let outcomes = apply_statuses_batch(&mut tx, &sets, chrono::Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    assert!(matches!(&outcomes[0], StatusOutcome::Applied(a) if a.advanced && a.status == MessageStatus::Delivered));
    assert!(matches!(&outcomes[1], StatusOutcome::Applied(a) if !a.advanced && a.status == MessageStatus::Read));
    assert!(matches!(outcomes[2], StatusOutcome::Orphan));
    assert!(matches!(outcomes[3], StatusOutcome::AlreadyProcessed));
    assert_eq!(app.scalar("SELECT COUNT(*) FROM messages WHERE wamid = 'wamid.a' AND status = 'delivered' AND delivered_at IS NOT NULL").await, 1);
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM messages WHERE wamid = 'wamid.b' AND status = 'read' AND delivered_at IS NOT NULL"
        )
        .await,
        1,
        "a stale status still records its time"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM inbox_items WHERE dedup_key = 's:2' AND state = 'pending'").await,
        1,
        "an orphan is left pending for a retry"
    );
}

#[actix_web::test]
async fn a_table_that_outgrows_its_statistics_is_analyzed_again() {
    let app = spawn_app().await;
    let db = &app.state.db;
    if !is_postgres() {
        // SQLite plans without statistics: nothing to keep.
        assert_eq!(pytake::db::statistics::analyze_stale(db).await.unwrap(), Vec::<String>::new());
        return;
    }
    let mut tx = db.begin().await.unwrap();
    for sql in ["CREATE TABLE stats_probe (id INT)", "INSERT INTO stats_probe SELECT generate_series(1, 5000)"] {
        pytake::sql_exec!(&mut tx, sql).unwrap();
    }
    tx.commit().await.unwrap();
    // The server's own statistics reach pg_stat_user_tables within about a second (the server's
    // 3 s round runs the same check and may be the one that analyzes it).
    let analyzed =
        || async { app.scalar("SELECT reltuples::BIGINT FROM pg_class WHERE relname = 'stats_probe'").await };
    eventually("the grown table to be analyzed", || async {
        let listed = pytake::db::statistics::analyze_stale(db).await.unwrap().iter().any(|t| t == "stats_probe");
        listed || analyzed().await == 5000
    })
    .await;
    assert_eq!(analyzed().await, 5000);
    // Analyzed now: the same rows are no reason to analyze it again.
    let again = pytake::db::statistics::analyze_stale(db).await.unwrap();
    assert!(!again.iter().any(|t| t == "stats_probe"), "{again:?}");
}
