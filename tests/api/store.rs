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

/// Stores `n` pending items of `kind` (dedup keys `<prefix>:<i>`) from one delivery, in `tx`.
async fn pending_items(
    tx: &mut pytake::db::DbTx,
    org: OrgId,
    number_id: Uuid,
    kind: &'static str,
    prefix: &str,
    n: usize,
) -> Vec<inbox::NewInboxItem> {
    let delivery = inbox::DeliveryRow {
        id: Uuid::now_v7(),
        received_at: chrono::Utc::now(),
        outcome: "accepted".into(),
        body_sha256: "x".into(),
        body_size: 1,
        body: None,
        item_count: n as i32,
        duplicate_count: 0,
        error: None,
        source_ip: None,
    };
    let items: Vec<inbox::NewInboxItem> = (0..n)
        .map(|i| inbox::NewInboxItem {
            id: Uuid::now_v7(),
            organization_id: org.as_uuid(),
            number_id,
            kind,
            dedup_key: format!("{prefix}:{i}"),
            contact_wa_id: "x".into(),
            payload: json!({}),
            wa_timestamp: None,
        })
        .collect();
    let pairs: Vec<(Uuid, &inbox::NewInboxItem)> = items.iter().map(|i| (delivery.id, i)).collect();
    inbox::insert_batch(tx, &[&delivery], &pairs, chrono::Utc::now()).await.unwrap();
    items
}

/// Four conversations, each with a pending item (the fourth already processed) to commit against.
struct Fixture {
    org: OrgId,
    number_id: Uuid,
    records: Vec<ConversationRecord>,
    items: Vec<inbox::NewInboxItem>,
}

const CONTACTS: [&str; 4] = ["111", "222", "333", "444"];

async fn four_conversations(app: &TestApp, slug: &str) -> Fixture {
    let t = app.tenant(slug).await;
    let number = app.create_number(&t.admin.token, PNID, Some(APP_SECRET)).await;
    let number_id: Uuid = number["id"].as_str().unwrap().parse().unwrap();
    for (i, contact) in CONTACTS.iter().enumerate() {
        app.deliver(&text_delivery(PNID, contact, &format!("wamid.seed{i}"), "seed"), APP_SECRET).await.expect(200);
    }
    app.drained().await;
    #[allow(clippy::disallowed_methods)]
    let org = OrgId::assume_verified(t.org_id.parse().unwrap());
    let mut records = Vec::new();
    let mut c = app.state.db.conn().await.unwrap();
    for wa in CONTACTS {
        let contact = contacts::find_by_wa_id(&mut c, org, wa).await.unwrap().unwrap();
        records.push(
            conversations::find_open(&mut c, org, number_id, contact.id).await.unwrap().unwrap().record().unwrap(),
        );
    }
    drop(c);
    // Four pending items to claim.
    let mut tx = app.state.db.begin().await.unwrap();
    let items = pending_items(&mut tx, org, number_id, "message", "test", 4).await;
    // The fourth item is already processed.
    inbox::mark_done(&mut tx, items[3].id, None, chrono::Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    Fixture { org, number_id, records, items }
}

impl Fixture {
    fn keys(&self) -> Vec<ConversationKey> {
        CONTACTS
            .iter()
            .map(|wa| ConversationKey { org: self.org, number_id: self.number_id, contact_wa_id: (*wa).into() })
            .collect()
    }

    /// One more unread message on a conversation, as an actor that read `version` would write it.
    fn update(&self, conversation: usize, item: usize, version: i64, wamid: &str) -> Changes {
        let mut record = self.records[conversation].clone();
        record.unread_count += 1;
        record.version = version;
        Changes {
            inbox_item: Some(self.items[item].id),
            contact: None,
            conversation: Some(ConversationWrite::Update(record)),
            messages: vec![new_message(wamid, wamid)],
            ..Default::default()
        }
    }

    /// A fresh change set, a stale one, one whose wamid is already stored, one whose item is done.
    fn four_change_sets(&self) -> Vec<Changes> {
        let v = |i: usize| self.records[i].version;
        vec![
            self.update(0, 0, v(0), "wamid.ok"),
            self.update(1, 1, v(1) + 7, "wamid.stale"),
            self.update(2, 2, v(2), "wamid.seed0"),
            self.update(3, 3, v(3), "wamid.late"),
        ]
    }

    /// Each change set got its own outcome, and only the fresh one left a trace.
    async fn assert_only_the_fresh_one_committed(&self, app: &TestApp, outcomes: &[ChangesOutcome]) {
        let fresh_version = self.records[0].version + 1;
        assert!(
            matches!(&outcomes[0], ChangesOutcome::Committed(c) if c.conversation.as_ref().unwrap().version == fresh_version)
        );
        assert!(matches!(outcomes[1], ChangesOutcome::Conflict));
        assert!(matches!(outcomes[2], ChangesOutcome::AlreadyProcessed));
        assert!(matches!(outcomes[3], ChangesOutcome::AlreadyProcessed));
        assert_eq!(app.scalar("SELECT COUNT(*) FROM messages WHERE wamid IN ('wamid.ok')").await, 1);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM messages WHERE wamid IN ('wamid.stale', 'wamid.late')").await, 0);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM messages WHERE wamid = 'wamid.seed0'").await, 1);
        assert_eq!(
            app.scalar("SELECT COUNT(*) FROM inbox_items WHERE dedup_key = 'test:1' AND state = 'pending'").await,
            1,
            "the conflicted item is pending again"
        );
        assert_eq!(app.scalar("SELECT COUNT(*) FROM inbox_items WHERE dedup_key = 'test:2' AND state = 'done' AND last_error = 'duplicate message'").await, 1);
        assert_eq!(unread(app, "111").await, 2);
        assert_eq!(unread(app, "222").await, 1, "a conflicting update changed nothing");
        assert_eq!(unread(app, "333").await, 1, "a duplicate changed nothing");
    }
}

async fn unread(app: &TestApp, wa: &str) -> i64 {
    app.scalar(&format!(
        "SELECT CAST(v.unread_count AS BIGINT) FROM conversations v JOIN contacts k ON k.id = v.contact_id WHERE k.wa_id = '{wa}'"
    ))
    .await
}

#[actix_web::test]
async fn each_change_set_in_a_batch_gets_its_own_outcome() {
    let app = spawn_app().await;
    let f = four_conversations(&app, "batch").await;
    let keys = f.keys();
    let changes = f.four_change_sets();
    let sets: Vec<(&ConversationKey, &Changes)> = keys.iter().zip(&changes).collect();
    let mut tx = app.state.db.begin().await.unwrap();
    let outcomes = apply_changes_batch(&mut tx, &sets, chrono::Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    f.assert_only_the_fresh_one_committed(&app, &outcomes).await;
}

/// On PostgreSQL a batch of plain change sets (claim, conversation update, messages) is committed by
/// one statement, all or nothing; when any of them cannot commit, the statement writes nothing and
/// the batch is committed the general way. Either way each change set gets the outcome it would get
/// alone, and a failed one leaves no trace.
#[actix_web::test]
async fn the_committer_gives_each_change_set_its_outcome_whichever_way_it_commits() {
    use pytake::store::committer::{Committer, Op};
    use std::sync::Arc;
    let app = spawn_app().await;
    let f = four_conversations(&app, "oneshot").await;
    let metrics = Arc::new(pytake::metrics::Metrics::default());
    let clock = Arc::new(pytake_actors::ports::SystemClock);
    // One worker: the four change sets submitted together form one batch.
    let committer = Committer::start(app.state.db.clone(), clock, metrics.clone(), 1, 128);
    let submit = |key: ConversationKey, changes: Changes| {
        let committer = committer.clone();
        async move { committer.submit(|reply| Op::Changes { key, changes: Box::new(changes), reply }).await.unwrap() }
    };
    let mut pending = Vec::new();
    for (key, changes) in f.keys().into_iter().zip(f.four_change_sets()) {
        pending.push(submit(key, changes));
    }
    let outcomes = futures_util::future::join_all(pending).await;
    f.assert_only_the_fresh_one_committed(&app, &outcomes).await;

    // The conflicted item, retried with the version the actor reloads, commits.
    let retry = f.update(1, 1, f.records[1].version, "wamid.retried");
    let outcome = submit(f.keys()[1].clone(), retry).await;
    assert!(
        matches!(&outcome, ChangesOutcome::Committed(c) if c.conversation.as_ref().unwrap().version == f.records[1].version + 1)
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM messages WHERE wamid = 'wamid.retried'").await, 1);
    assert_eq!(unread(&app, "222").await, 2);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM inbox_items WHERE dedup_key = 'test:1' AND state = 'done'").await, 1);

    // A new customer (a contact first seen, its first conversation) commits in one statement too;
    // a "new" conversation for a contact that already has one open conflicts and leaves no trace.
    let mut tx = app.state.db.begin().await.unwrap();
    let items = pending_items(&mut tx, f.org, f.number_id, "message", "new", 2).await;
    tx.commit().await.unwrap();
    let opening = |wa: &str, item: usize, wamid: &str| {
        let contact = ContactUpsert {
            id: Uuid::now_v7(),
            wa_id: wa.into(),
            profile_name: Some("New".into()),
            last_inbound_at: chrono::Utc::now(),
        };
        let mut record = f.records[0].clone();
        record.id = Uuid::now_v7();
        record.contact_id = contact.id;
        record.version = 0;
        Changes {
            inbox_item: Some(items[item].id),
            contact: Some(contact),
            conversation: Some(ConversationWrite::Insert(record)),
            messages: vec![new_message(wamid, wamid)],
            ..Default::default()
        }
    };
    let key = |wa: &str| ConversationKey { org: f.org, number_id: f.number_id, contact_wa_id: wa.into() };
    let fresh = opening("555", 0, "wamid.new");
    let fresh_contact = fresh.contact.as_ref().unwrap().id;
    let outcome = submit(key("555"), fresh).await;
    let ChangesOutcome::Committed(c) = &outcome else { panic!("{outcome:?}") };
    assert_eq!(c.contact.as_ref().unwrap().id, fresh_contact);
    assert_eq!(c.conversation.as_ref().unwrap().contact_id, fresh_contact);
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM conversations v JOIN contacts k ON k.id = v.contact_id
             WHERE k.wa_id = '555' AND k.profile_name = 'New' AND v.status <> 'closed'"
        )
        .await,
        1
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM messages WHERE wamid = 'wamid.new'").await, 1);
    let reopened = submit(key("111"), opening("111", 1, "wamid.reopened")).await;
    assert!(matches!(reopened, ChangesOutcome::Conflict), "{reopened:?}");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM messages WHERE wamid = 'wamid.reopened'").await, 0);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM contacts WHERE wa_id = '111'").await, 1);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM inbox_items WHERE dedup_key = 'new:0' AND state = 'done'").await, 1);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM inbox_items WHERE dedup_key = 'new:1' AND state = 'pending'").await, 1);

    let single = |outcome| metrics.get("pytake_commit_single_statement_total", outcome);
    if is_postgres() {
        assert_eq!((single("incomplete"), single("committed"), single("failed")), (2, 2, 0));
    } else {
        assert_eq!((single("incomplete"), single("committed")), (0, 0), "SQLite commits in its writer transaction");
    }
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
    let items = pending_items(&mut tx, org, number_id, "status", "s", 4).await;
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
    for sql in [
        "CREATE TABLE stats_probe (id INT) WITH (autovacuum_enabled = false)",
        "INSERT INTO stats_probe SELECT generate_series(1, 5000)",
    ] {
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
    // A coarse sample (statistics target 10: at most 11 histogram bounds, not 101): the keeper's
    // analyses must stay cheap next to the traffic that grows the table.
    let bounds = "SELECT COALESCE(array_length(histogram_bounds::text::text[], 1), 0)::BIGINT FROM pg_stats WHERE tablename = 'stats_probe' AND attname = 'id'";
    assert!((2..=11).contains(&app.scalar(bounds).await), "{}", app.scalar(bounds).await);
    // Wide payload columns are never sampled (migration 0005).
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM pg_attribute WHERE attrelid = 'inbox_items'::regclass AND attname IN ('payload', 'last_error') AND attstattarget = 0").await,
        2
    );
    // Analyzed now: the same rows are no reason to analyze it again.
    let again = pytake::db::statistics::analyze_stale(db).await.unwrap();
    assert!(!again.iter().any(|t| t == "stats_probe"), "{again:?}");
}

/// On PostgreSQL the hot path has its own connections: all open from the start, warmed before
/// their first use (the hot statements already prepared and planned), planning those statements
/// generically (once per connection, never per execution); the API's pool keeps PostgreSQL's
/// default choice. On SQLite the hot path simply uses the one pool.
#[actix_web::test]
async fn the_hot_path_has_its_own_warm_connections_that_plan_once() {
    let app = spawn_app().await;
    let db = &app.state.db;
    let pytake::db::Db::Postgres(pg) = db else {
        let mut c = db.hot_conn().await.unwrap();
        assert_eq!(pytake::sql_scalar!(&mut c, fetch_one, i32, "SELECT 1").unwrap(), 1);
        return;
    };
    let size = app.settings.database.hot_path_connections;
    assert_eq!(pg.hot.size(), size, "every hot-path connection is open from the start");
    let mode = "SELECT current_setting('plan_cache_mode')";
    let on_api: String = sqlx::query_scalar(mode).fetch_one(&pg.pool).await.unwrap();
    assert_eq!(on_api, "auto");

    // A new customer's message goes the whole hot path: ingest, wake-up reads, single statement.
    let admin = app.admin_token().await;
    app.create_number(&admin, "7001", Some("hot-secret")).await;
    app.deliver(&text_delivery("7001", "5511900000001", "wamid.HOT.1", "hello"), "hot-secret").await.expect(200);
    app.drained().await;
    assert_eq!(app.conversations(&admin).await.len(), 1);

    let mut conns = Vec::new();
    for _ in 0..size {
        conns.push(pg.hot.acquire().await.unwrap());
    }
    let plans = "SELECT COALESCE(SUM(generic_plans), 0)::BIGINT, COALESCE(SUM(custom_plans), 0)::BIGINT, COUNT(*)
                 FROM pg_prepared_statements WHERE statement LIKE $1";
    let mut generic_total = 0;
    for conn in &mut conns {
        let on_hot: String = sqlx::query_scalar(mode).fetch_one(&mut **conn).await.unwrap();
        assert_eq!(on_hot, "force_generic_plan");
        for statement in ["WITH new_items AS%", "WITH new_contacts AS%", "SELECT c.* FROM UNNEST%"] {
            let (generic, custom, prepared): (i64, i64, i64) =
                sqlx::query_as(plans).bind(statement).fetch_one(&mut **conn).await.unwrap();
            assert_eq!(prepared, 1, "{statement} is prepared by the warm-up on every hot connection");
            assert!(generic >= 1, "{statement}: {generic} generic plans");
            assert_eq!(custom, 0, "{statement} is never planned for its parameters");
            generic_total += generic;
        }
    }
    // The delivery's own executions came on top of one warm-up run per statement and connection.
    assert!(generic_total > 3 * i64::from(size), "{generic_total}");
}
