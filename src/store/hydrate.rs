//! Batches the reads of waking conversation actors. An actor that wakes cold asks for its pending
//! items and its snapshot; those requests queue here, and a few workers answer everything waiting
//! at once with one statement per kind ([`crate::repo::hydration`]), each worker on one connection
//! of the hot path's pool ([`crate::db::PgDb`]). A burst of cold conversations then costs a few
//! queries instead of three per actor, and it can never take that pool from the webhooks' commits (before this, 1,000 cold wakes a second
//! queued for connections until acknowledgements took seconds and loads timed out).
//!
//! No timer: a request that finds the workers idle is answered at once; the ones that arrive while
//! a batch is running make up the next batch.

use crate::db::{Db, StoreError};
use crate::repo::contacts::ContactRow;
use crate::repo::conversations::ConversationRow;
use crate::repo::hydration::{self, KeyRef, KeyedPending};
use crate::repo::inbox::PendingRow;
use pytake_actors::OrgId;
use pytake_actors::domain::conversation::ConversationKey;
use pytake_actors::ports::StoreFailure;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

/// Requests answered together at most (each statement binds arrays of this length).
const MAX_BATCH: usize = 500;

/// The stored rows a conversation's snapshot is built from.
pub struct SnapshotRows {
    pub contact: Option<ContactRow>,
    pub conversation: Option<ConversationRow>,
}

type Reply<T> = oneshot::Sender<Result<T, StoreFailure>>;
/// Pending-items requests waiting for one statement: the key and where the answer goes.
type PendingAsks = Vec<(ConversationKey, Reply<Vec<PendingRow>>)>;

enum Request {
    Pending { key: ConversationKey, limit: u32, reply: Reply<Vec<PendingRow>> },
    Snapshot { key: ConversationKey, reply: Reply<SnapshotRows> },
}

#[derive(Clone)]
pub struct Hydrator {
    tx: mpsc::UnboundedSender<Request>,
}

impl Hydrator {
    /// Starts `workers` batch readers on the current runtime.
    pub fn start(db: Db, workers: usize) -> Hydrator {
        let (tx, rx) = mpsc::unbounded_channel();
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..workers.max(1) {
            actix::spawn(work(db.clone(), rx.clone()));
        }
        Hydrator { tx }
    }

    /// The oldest `limit` pending items of `key`.
    pub async fn pending(&self, key: &ConversationKey, limit: u32) -> Result<Vec<PendingRow>, StoreFailure> {
        let (reply, answer) = oneshot::channel();
        self.ask(Request::Pending { key: key.clone(), limit, reply }, answer).await
    }

    /// The contact of `key` and its open conversation on the key's number.
    pub async fn snapshot(&self, key: &ConversationKey) -> Result<SnapshotRows, StoreFailure> {
        let (reply, answer) = oneshot::channel();
        self.ask(Request::Snapshot { key: key.clone(), reply }, answer).await
    }

    async fn ask<T>(
        &self,
        request: Request,
        answer: oneshot::Receiver<Result<T, StoreFailure>>,
    ) -> Result<T, StoreFailure> {
        let gone = || StoreFailure("the store's readers stopped".into());
        self.tx.send(request).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn work(db: Db, rx: Arc<Mutex<mpsc::UnboundedReceiver<Request>>>) {
    loop {
        let batch = {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else { return };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            batch
        };
        serve(&db, batch).await;
    }
}

pub(crate) fn key_ref(k: &ConversationKey) -> KeyRef<'_> {
    KeyRef { org: k.org, number_id: k.number_id, wa_id: &k.contact_wa_id }
}

/// Answers one batch: every pending request (grouped by limit) and every snapshot request.
async fn serve(db: &Db, batch: Vec<Request>) {
    let mut pendings: HashMap<u32, PendingAsks> = HashMap::new();
    let mut snapshots = Vec::new();
    for request in batch {
        match request {
            Request::Pending { key, limit, reply } => pendings.entry(limit).or_default().push((key, reply)),
            Request::Snapshot { key, reply } => snapshots.push((key, reply)),
        }
    }
    let mut c = match db.hot_conn().await {
        Ok(c) => c,
        Err(e) => {
            let failure = StoreFailure(e.to_string());
            for (_, reply) in pendings.into_values().flatten() {
                let _ = reply.send(Err(failure.clone()));
            }
            for (_, reply) in snapshots {
                let _ = reply.send(Err(failure.clone()));
            }
            return;
        }
    };
    for (limit, requests) in pendings {
        let keys = distinct(requests.iter().map(|(k, _)| k));
        let refs: Vec<KeyRef> = keys.iter().map(|k| key_ref(k)).collect();
        match hydration::pending(&mut c, &refs, limit).await {
            Ok(rows) => {
                let by_key = group_pending(rows);
                for (key, reply) in requests {
                    let found = by_key.get(&pending_key(&key));
                    let _ = reply.send(Ok(found.cloned().unwrap_or_default()));
                }
            }
            Err(e) => answer_all_with(requests, &e),
        }
    }
    if !snapshots.is_empty() {
        match snapshot_rows(&mut c, snapshots.iter().map(|(k, _)| k)).await {
            Ok(rows) => {
                for (key, reply) in snapshots {
                    let _ = reply.send(Ok(rows.take(&key)));
                }
            }
            Err(e) => answer_all_with(snapshots, &e),
        }
    }
}

/// A conversation key as the pending rows carry it.
pub(crate) type PendingKey = (Uuid, Uuid, String);

pub(crate) fn pending_key(k: &ConversationKey) -> PendingKey {
    (k.org.as_uuid(), k.number_id, k.contact_wa_id.clone())
}

/// Pending rows of many keys, by key, each key's oldest first (the rows come oldest first).
pub(crate) fn group_pending(rows: Vec<KeyedPending>) -> HashMap<PendingKey, Vec<PendingRow>> {
    let mut by_key: HashMap<PendingKey, Vec<PendingRow>> = HashMap::new();
    for p in rows {
        by_key.entry((p.organization_id, p.number_id, p.contact_wa_id)).or_default().push(PendingRow {
            id: p.id,
            payload: p.payload,
            attempts: p.attempts,
        });
    }
    by_key
}

fn answer_all_with<T>(requests: Vec<(ConversationKey, Reply<T>)>, e: &StoreError) {
    let failure = StoreFailure(e.to_string());
    for (_, reply) in requests {
        let _ = reply.send(Err(failure.clone()));
    }
}

fn distinct<'a>(keys: impl Iterator<Item = &'a ConversationKey>) -> Vec<&'a ConversationKey> {
    let mut seen = HashSet::new();
    keys.filter(|k| seen.insert(*k)).collect()
}

/// The snapshot rows of a batch of keys.
pub(crate) struct FoundRows {
    contacts: HashMap<(Uuid, String), ContactRow>,
    conversations: HashMap<(Uuid, Uuid, Uuid), ConversationRow>,
}

impl FoundRows {
    /// The rows of one key (a key asked for twice gets them twice).
    pub(crate) fn take(&self, key: &ConversationKey) -> SnapshotRows {
        let contact = self.contacts.get(&(key.org.as_uuid(), key.contact_wa_id.clone())).cloned();
        let conversation =
            contact.as_ref().and_then(|c| self.conversations.get(&(key.org.as_uuid(), key.number_id, c.id)).cloned());
        SnapshotRows { contact, conversation }
    }
}

pub(crate) async fn snapshot_rows<'a>(
    c: &mut crate::db::DbConn,
    keys: impl Iterator<Item = &'a ConversationKey>,
) -> Result<FoundRows, StoreError> {
    let keys = distinct(keys);
    let mut pairs: Vec<(OrgId, &str)> = keys.iter().map(|k| (k.org, k.contact_wa_id.as_str())).collect();
    pairs.sort_unstable_by(|a, b| (a.0.as_uuid(), a.1).cmp(&(b.0.as_uuid(), b.1)));
    pairs.dedup();
    let contacts: HashMap<(Uuid, String), ContactRow> = hydration::contacts(c, &pairs)
        .await?
        .into_iter()
        .map(|row| ((row.organization_id, row.wa_id.clone()), row))
        .collect();
    let triples: Vec<(OrgId, Uuid, Uuid)> = keys
        .iter()
        .filter_map(|k| contacts.get(&(k.org.as_uuid(), k.contact_wa_id.clone())).map(|c| (k.org, k.number_id, c.id)))
        .collect();
    let conversations = hydration::open_conversations(c, &triples)
        .await?
        .into_iter()
        .map(|row| ((row.organization_id, row.number_id, row.contact_id), row))
        .collect();
    Ok(FoundRows { contacts, conversations })
}
