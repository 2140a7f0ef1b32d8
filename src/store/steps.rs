//! The write operations of conversation actors, each run inside a transaction someone else owns
//! (a batch, or its own). Business outcomes (already processed, a conflict, an orphan status) are
//! detected by row counts, never by SQL errors, and undone by compensating statements, so one
//! operation's conflict never aborts the others in its batch. An `Err` means something unexpected:
//! the whole batch is rolled back and its operations retried one transaction each.

use crate::db::{Conn, StoreError};
use crate::repo::{analytics, contacts, conversations, inbox, messages, outbox, tags, timers};
use chrono::{DateTime, Utc};
use pytake_actors::domain::conversation::{
    Changes, Committed, ContactRecord, ConversationKey, ConversationWrite, NewMessage, StatusApplied, TimerChange,
};
use pytake_actors::domain::inbound::StatusUpdate;
use pytake_actors::domain::message::MessageStatus;
use uuid::Uuid;

pub fn contact_record(c: &contacts::ContactRow) -> ContactRecord {
    ContactRecord {
        id: c.id,
        wa_id: c.wa_id.clone(),
        name: c.name.clone(),
        profile_name: c.profile_name.clone(),
        is_blocked: c.is_blocked,
        is_vip: c.is_vip,
        last_inbound_at: c.last_inbound_at,
    }
}

/// How applying a change set ended.
#[derive(Debug)]
pub enum ChangesOutcome {
    Committed(Box<Committed>),
    AlreadyProcessed,
    Conflict,
}

/// Applies an actor's change set: claim the item, refresh the contact, open or update the
/// conversation (versioned), store the messages. The order lets every business failure be undone
/// with the data at hand.
pub async fn apply_changes(
    c: &mut dyn Conn,
    key: &ConversationKey,
    changes: &Changes,
    now: DateTime<Utc>,
) -> Result<ChangesOutcome, StoreError> {
    let org = key.org;
    if let Some(item) = changes.inbox_item
        && !inbox::mark_done(c, item, None, now).await?
    {
        return Ok(ChangesOutcome::AlreadyProcessed);
    }
    let contact = match &changes.contact {
        Some(u) => Some(contact_record(
            &contacts::upsert_inbound(c, org, u.id, &u.wa_id, u.profile_name.as_deref(), u.last_inbound_at, now)
                .await?,
        )),
        None => None,
    };
    let mut conversation = None;
    let mut created = None;
    match &changes.conversation {
        Some(ConversationWrite::Insert(record)) => {
            let mut record = record.clone();
            if let Some(k) = &contact {
                record.contact_id = k.id;
            }
            if !conversations::insert_if_absent(c, org, key.number_id, &record, now).await? {
                unclaim(c, changes.inbox_item).await?;
                return Ok(ChangesOutcome::Conflict);
            }
            created = Some(record.id);
            conversation = Some(record);
        }
        Some(ConversationWrite::Update(record)) => conversation = Some(record.clone()),
        None => {}
    }
    let mut stored: Vec<(NewMessage, Option<Uuid>)> = Vec::with_capacity(changes.messages.len());
    if let Some(conv) = &conversation {
        for m in &changes.messages {
            let reply_to = match &m.reply_to_wamid {
                Some(w) => messages::id_by_wamid(c, org, key.number_id, w).await?,
                None => None,
            };
            if !messages::insert(c, org, conv.id, key.number_id, m, reply_to).await? {
                // The same wamid is already stored: this item was processed before. Undo this
                // change set's writes and leave the item done.
                let ids: Vec<Uuid> = stored.iter().map(|(m, _)| m.id).collect();
                messages::delete_new(c, org, &ids).await?;
                if let Some(id) = created {
                    conversations::delete_new(c, org, id).await?;
                }
                if let Some(item) = changes.inbox_item {
                    inbox::note(c, item, "duplicate message").await?;
                }
                return Ok(ChangesOutcome::AlreadyProcessed);
            }
            stored.push((m.clone(), reply_to));
        }
    }
    if let Some(ConversationWrite::Update(record)) = &changes.conversation {
        if !conversations::update_versioned(c, org, record, now).await? {
            let ids: Vec<Uuid> = stored.iter().map(|(m, _)| m.id).collect();
            messages::delete_new(c, org, &ids).await?;
            unclaim(c, changes.inbox_item).await?;
            return Ok(ChangesOutcome::Conflict);
        }
        if let Some(conv) = conversation.as_mut() {
            conv.version += 1;
        }
    }
    apply_extras(c, key, changes, now, true).await?;
    Ok(ChangesOutcome::Committed(Box::new(Committed { contact, conversation, messages: stored })))
}

async fn unclaim(c: &mut dyn Conn, item: Option<Uuid>) -> Result<(), StoreError> {
    if let Some(item) = item {
        inbox::unclaim(c, item).await?;
    }
    Ok(())
}

#[derive(Debug)]
pub enum StatusOutcome {
    Applied(StatusApplied),
    /// No message of ours has this wamid (yet): nothing written.
    Orphan,
    AlreadyProcessed,
}

/// Applies a delivery status to our message (monotonic) and claims the item.
pub async fn apply_status(
    c: &mut dyn Conn,
    key: &ConversationKey,
    item: Uuid,
    status: &StatusUpdate,
    now: DateTime<Utc>,
) -> Result<StatusOutcome, StoreError> {
    let reported: MessageStatus = match status.status.parse() {
        Ok(s) => s,
        Err(e) => {
            // Not a status we know: record why and close the item.
            inbox::mark_done(c, item, Some(&e), now).await?;
            return Ok(StatusOutcome::AlreadyProcessed);
        }
    };
    let our_id = status.biz_opaque_callback_data.as_deref().and_then(|s| s.parse::<Uuid>().ok());
    let Some(target) = messages::find_status_target(c, key.org, key.number_id, &status.wamid, our_id).await? else {
        return Ok(StatusOutcome::Orphan);
    };
    if !inbox::mark_done(c, item, None, now).await? {
        return Ok(StatusOutcome::AlreadyProcessed);
    }
    let current: MessageStatus =
        target.status.parse().map_err(|e: String| StoreError::Corrupt(format!("message {}: {e}", target.id)))?;
    let next = current.advance(reported);
    let at = status
        .timestamp
        .and_then(|t| DateTime::from_timestamp(t, 0))
        .map(pytake_actors::domain::time::to_store_precision)
        .unwrap_or(now);
    let error = status.errors.first().map(|e| {
        (i32::try_from(e.code).unwrap_or(i32::MAX), e.title.clone().or_else(|| e.message.clone()), e.details.clone())
    });
    messages::apply_status(
        c,
        key.org,
        target.id,
        reported.as_str(),
        next.map(|s| s.as_str()),
        &status.wamid,
        at,
        error,
        now,
    )
    .await?;
    Ok(StatusOutcome::Applied(StatusApplied {
        message_id: target.id,
        conversation_id: target.conversation_id,
        status: next.unwrap_or(current),
        advanced: next.is_some(),
    }))
}

/// Applies many actors' change sets with a few statements in all: one claim, one contact upsert,
/// one conversation insert, one message insert, one conversation update, one outbox insert and one
/// analytics insert for the whole batch (reply links, timers, contact fields and tags, which are
/// rare, one by one). Each change set's outcome is read from what those statements returned, and a
/// failed one is undone exactly as in [`apply_changes`].
pub async fn apply_changes_batch(
    c: &mut dyn Conn,
    sets: &[(&ConversationKey, &Changes)],
    now: DateTime<Utc>,
) -> Result<Vec<ChangesOutcome>, StoreError> {
    #[derive(Default)]
    struct Work {
        done: Option<ChangesOutcome>,
        contact: Option<ContactRecord>,
        conversation: Option<pytake_actors::domain::conversation::ConversationRecord>,
        created: Option<Uuid>,
        messages: Vec<(NewMessage, Option<Uuid>)>,
    }
    let mut work: Vec<Work> = sets.iter().map(|_| Work::default()).collect();

    // 1. Claim every item at once.
    let items: Vec<Uuid> = sets.iter().filter_map(|(_, ch)| ch.inbox_item).collect();
    let claimed = inbox::mark_done_many(c, &items, now).await?;
    for (w, (_, ch)) in work.iter_mut().zip(sets) {
        if ch.inbox_item.is_some_and(|i| !claimed.contains(&i)) {
            w.done = Some(ChangesOutcome::AlreadyProcessed);
        }
    }

    // 2. Contacts at once (each (organization, wa_id) once), then new conversations at once.
    let mut wanted: Vec<contacts::InboundContact<'_>> = Vec::new();
    for (w, (key, ch)) in work.iter().zip(sets) {
        if let (None, Some(u)) = (&w.done, &ch.contact) {
            match wanted.iter_mut().find(|x| x.org == key.org && x.wa_id == u.wa_id) {
                Some(x) => x.seen_at = x.seen_at.max(u.last_inbound_at),
                None => wanted.push(contacts::InboundContact {
                    org: key.org,
                    new_id: u.id,
                    wa_id: &u.wa_id,
                    profile_name: u.profile_name.as_deref(),
                    seen_at: u.last_inbound_at,
                }),
            }
        }
    }
    let upserted = contacts::upsert_inbound_many(c, &wanted, now).await?;
    for (w, (key, ch)) in work.iter_mut().zip(sets) {
        if let (None, Some(u)) = (&w.done, &ch.contact) {
            let row = upserted.iter().find(|r| r.organization_id == key.org.as_uuid() && r.wa_id == u.wa_id);
            w.contact = Some(contact_record(
                row.ok_or_else(|| StoreError::Corrupt(format!("contact {} not upserted", u.wa_id)))?,
            ));
        }
    }
    let mut creating: Vec<(pytake_actors::OrgId, Uuid, pytake_actors::domain::conversation::ConversationRecord)> =
        Vec::new();
    for (w, (key, ch)) in work.iter().zip(sets) {
        if let (None, Some(ConversationWrite::Insert(record))) = (&w.done, &ch.conversation) {
            let mut record = record.clone();
            if let Some(k) = &w.contact {
                record.contact_id = k.id;
            }
            creating.push((key.org, key.number_id, record));
        }
    }
    let refs: Vec<_> = creating.iter().map(|(o, n, r)| (*o, *n, r)).collect();
    let created = conversations::insert_if_absent_many(c, &refs, now).await?;
    let mut creating = creating.into_iter();
    for (w, (key, ch)) in work.iter_mut().zip(sets) {
        if w.done.is_some() {
            continue;
        }
        match &ch.conversation {
            Some(ConversationWrite::Insert(_)) => {
                let Some((_, _, record)) = creating.next() else { continue };
                if !created.contains(&record.id) {
                    unclaim(c, ch.inbox_item).await?;
                    w.done = Some(ChangesOutcome::Conflict);
                    continue;
                }
                w.created = Some(record.id);
                w.conversation = Some(record);
            }
            Some(ConversationWrite::Update(record)) => w.conversation = Some(record.clone()),
            None => {}
        }
        if w.conversation.is_some() {
            for m in &ch.messages {
                let reply_to = match &m.reply_to_wamid {
                    Some(wamid) => messages::id_by_wamid(c, key.org, key.number_id, wamid).await?,
                    None => None,
                };
                w.messages.push((m.clone(), reply_to));
            }
        }
    }

    // 3. Every message at once, per organization; a change set with a duplicate is undone.
    let mut orgs: Vec<pytake_actors::OrgId> = sets.iter().map(|(k, _)| k.org).collect();
    orgs.sort();
    orgs.dedup();
    for org in &orgs {
        let rows: Vec<(Uuid, Uuid, &NewMessage, Option<Uuid>)> = work
            .iter()
            .zip(sets)
            .filter(|(w, (k, _))| w.done.is_none() && k.org == *org)
            .flat_map(|(w, (k, _))| {
                let conv = w.conversation.as_ref().map(|c| c.id);
                w.messages.iter().filter_map(move |(m, r)| conv.map(|cid| (cid, k.number_id, m, *r)))
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        let stored = messages::insert_many(c, *org, &rows).await?;
        for (w, (k, ch)) in work.iter_mut().zip(sets) {
            if w.done.is_some() || k.org != *org || w.messages.iter().all(|(m, _)| stored.contains(&m.id)) {
                continue;
            }
            let ids: Vec<Uuid> = w.messages.iter().map(|(m, _)| m.id).filter(|id| stored.contains(id)).collect();
            messages::delete_new(c, k.org, &ids).await?;
            if let Some(id) = w.created {
                conversations::delete_new(c, k.org, id).await?;
            }
            if let Some(item) = ch.inbox_item {
                inbox::note(c, item, "duplicate message").await?;
            }
            w.done = Some(ChangesOutcome::AlreadyProcessed);
        }
    }

    // 4. Every conversation update at once, per organization; a stale version is undone.
    for org in &orgs {
        let updates: Vec<&pytake_actors::domain::conversation::ConversationRecord> = work
            .iter()
            .zip(sets)
            .filter(|(w, (k, _))| w.done.is_none() && k.org == *org)
            .filter_map(|(_, (_, ch))| match &ch.conversation {
                Some(ConversationWrite::Update(r)) => Some(r),
                _ => None,
            })
            .collect();
        if updates.is_empty() {
            continue;
        }
        let written = conversations::update_versioned_many(c, *org, &updates, now).await?;
        for (w, (k, ch)) in work.iter_mut().zip(sets) {
            let Some(ConversationWrite::Update(record)) = &ch.conversation else { continue };
            if w.done.is_some() || k.org != *org {
                continue;
            }
            if written.contains(&record.id) {
                if let Some(conv) = w.conversation.as_mut() {
                    conv.version += 1;
                }
            } else {
                let ids: Vec<Uuid> = w.messages.iter().map(|(m, _)| m.id).collect();
                messages::delete_new(c, k.org, &ids).await?;
                unclaim(c, ch.inbox_item).await?;
                w.done = Some(ChangesOutcome::Conflict);
            }
        }
    }

    // 5. The rest of each committed change set; outbox rows and analytics events in one statement.
    let mut fresh = Vec::new();
    let mut events = Vec::new();
    for (w, (key, ch)) in work.iter().zip(sets) {
        if w.done.is_none() {
            apply_extras(c, key, ch, now, false).await?;
            fresh.extend(ch.outbox.iter().map(|o| outbox::fresh_row(key.org, key.number_id, o, now)));
            let conversation = w.conversation.as_ref().map(|c| c.id);
            events.extend(ch.analytics.iter().map(|a| (key.org, conversation, a)));
        }
    }
    outbox::insert_many(c, &fresh, now).await?;
    analytics::insert_many(c, &events, now).await?;

    Ok(work
        .into_iter()
        .map(|w| match w.done {
            Some(outcome) => outcome,
            None => ChangesOutcome::Committed(Box::new(Committed {
                contact: w.contact,
                conversation: w.conversation,
                messages: w.messages,
            })),
        })
        .collect())
}

/// Applies many statuses with a few statements: one lookup of their messages per number, one claim,
/// one update. A status naming a message we do not know is an orphan (nothing written).
pub async fn apply_statuses_batch(
    c: &mut dyn Conn,
    sets: &[(&ConversationKey, Uuid, &StatusUpdate)],
    now: DateTime<Utc>,
) -> Result<Vec<StatusOutcome>, StoreError> {
    let mut outcomes: Vec<Option<StatusOutcome>> = sets.iter().map(|_| None).collect();
    // Statuses we cannot read are closed at once.
    let mut parsed: Vec<Option<MessageStatus>> = Vec::with_capacity(sets.len());
    for (i, (_, item, s)) in sets.iter().enumerate() {
        match s.status.parse::<MessageStatus>() {
            Ok(st) => parsed.push(Some(st)),
            Err(e) => {
                inbox::mark_done(c, *item, Some(&e), now).await?;
                outcomes[i] = Some(StatusOutcome::AlreadyProcessed);
                parsed.push(None);
            }
        }
    }
    // Find the messages, per organization and number.
    let mut groups: Vec<(pytake_actors::OrgId, Uuid)> = sets.iter().map(|(k, _, _)| (k.org, k.number_id)).collect();
    groups.sort();
    groups.dedup();
    let mut targets: Vec<Option<messages::StatusTarget>> = sets.iter().map(|_| None).collect();
    for (org, number) in &groups {
        let wamids: Vec<String> = sets
            .iter()
            .zip(&outcomes)
            .filter(|((k, _, _), o)| o.is_none() && k.org == *org && k.number_id == *number)
            .map(|((_, _, s), _)| s.wamid.clone())
            .collect();
        let found = messages::find_status_targets(c, *org, *number, &wamids).await?;
        for (i, (k, _, s)) in sets.iter().enumerate() {
            if outcomes[i].is_none() && k.org == *org && k.number_id == *number {
                targets[i] = found.iter().find(|t| t.wamid.as_deref() == Some(s.wamid.as_str())).cloned();
            }
        }
    }
    // Not found by wamid: try our own id from the callback data (rare), else it is an orphan.
    for (i, (k, _, s)) in sets.iter().enumerate() {
        if outcomes[i].is_some() || targets[i].is_some() {
            continue;
        }
        let our_id = s.biz_opaque_callback_data.as_deref().and_then(|d| d.parse::<Uuid>().ok());
        targets[i] = match our_id {
            Some(_) => messages::find_status_target(c, k.org, k.number_id, &s.wamid, our_id).await?,
            None => None,
        };
        if targets[i].is_none() {
            outcomes[i] = Some(StatusOutcome::Orphan);
        }
    }
    // Claim the items of the statuses that found their message.
    let items: Vec<Uuid> =
        sets.iter().zip(&outcomes).filter(|(_, o)| o.is_none()).map(|((_, item, _), _)| *item).collect();
    let claimed = inbox::mark_done_many(c, &items, now).await?;
    let mut writes: Vec<(pytake_actors::OrgId, messages::StatusWrite)> = Vec::new();
    for (i, (k, item, s)) in sets.iter().enumerate() {
        if outcomes[i].is_some() {
            continue;
        }
        if !claimed.contains(item) {
            outcomes[i] = Some(StatusOutcome::AlreadyProcessed);
            continue;
        }
        let (Some(target), Some(reported)) = (&targets[i], parsed[i]) else { continue };
        let current: MessageStatus =
            target.status.parse().map_err(|e: String| StoreError::Corrupt(format!("message {}: {e}", target.id)))?;
        let next = current.advance(reported);
        let at = s
            .timestamp
            .and_then(|t| DateTime::from_timestamp(t, 0))
            .map(pytake_actors::domain::time::to_store_precision)
            .unwrap_or(now);
        writes.push((
            k.org,
            messages::StatusWrite {
                id: target.id,
                reported: reported.as_str().to_string(),
                new_status: next.map(|n| n.as_str().to_string()),
                wamid: s.wamid.clone(),
                at,
                error: s.errors.first().map(|e| {
                    (
                        i32::try_from(e.code).unwrap_or(i32::MAX),
                        e.title.clone().or_else(|| e.message.clone()),
                        e.details.clone(),
                    )
                }),
            },
        ));
        outcomes[i] = Some(StatusOutcome::Applied(StatusApplied {
            message_id: target.id,
            conversation_id: target.conversation_id,
            status: next.unwrap_or(current),
            advanced: next.is_some(),
        }));
    }
    let mut orgs: Vec<pytake_actors::OrgId> = writes.iter().map(|(o, _)| *o).collect();
    orgs.sort();
    orgs.dedup();
    for org in orgs {
        let batch: Vec<messages::StatusWrite> =
            writes.iter().filter(|(o, _)| *o == org).map(|(_, w)| w.clone()).collect();
        messages::apply_status_many(c, org, &batch, now).await?;
    }
    Ok(outcomes.into_iter().map(|o| o.unwrap_or(StatusOutcome::Orphan)).collect())
}

/// The parts of a committed change set that need no undoing: timers, outbox rows, contact fields,
/// analytics and tags. Run only after the change set's conversation write succeeded. Without
/// `with_batched`, outbox rows and analytics events are left to the caller (written for a whole
/// batch at once).
pub async fn apply_extras(
    c: &mut dyn Conn,
    key: &ConversationKey,
    changes: &Changes,
    now: DateTime<Utc>,
    with_batched: bool,
) -> Result<(), StoreError> {
    let Some(conv) = (match &changes.conversation {
        Some(ConversationWrite::Insert(r)) | Some(ConversationWrite::Update(r)) => Some(r),
        None => None,
    }) else {
        return Ok(());
    };
    let org = key.org;
    for t in &changes.timers {
        match t {
            TimerChange::CancelAll => timers::cancel_all(c, org, conv.id, now).await?,
            TimerChange::Schedule { id, kind, node, due_at, token } => {
                let timer = timers::NewTimer {
                    id: *id,
                    conversation: conv.id,
                    kind,
                    due_at: *due_at,
                    payload: serde_json::json!({"node": node, "token": token}),
                };
                timers::schedule(c, org, &timer, now).await?
            }
        }
    }
    if with_batched {
        let rows: Vec<outbox::OutboxRow> =
            changes.outbox.iter().map(|o| outbox::fresh_row(org, key.number_id, o, now)).collect();
        outbox::insert_many(c, &rows, now).await?;
    }
    if let Some(fields) = &changes.contact_fields {
        contacts::apply_fields(c, org, conv.contact_id, fields, now).await?;
    }
    if with_batched {
        let events: Vec<_> = changes.analytics.iter().map(|a| (org, Some(conv.id), a)).collect();
        analytics::insert_many(c, &events, now).await?;
    }
    for name in &changes.tags {
        let tag = tags::ensure(c, org, name.trim(), now).await?;
        tags::tag_conversation(c, org, conv.id, tag, now).await?;
    }
    Ok(())
}
