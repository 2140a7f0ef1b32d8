//! Agents' presence on this node: their chosen status and how many sockets they have open. An
//! agent is offline only after their last socket has been closed for a grace period (a reload or a
//! network blip does not flap), and assignment only considers agents who are connected and
//! available.

use dashmap::DashMap;
use pytake_actors::OrgId;
use std::time::Instant;
use uuid::Uuid;

pub const STATUSES: [&str; 4] = ["available", "busy", "away", "offline"];

#[derive(Debug)]
struct AgentPresence {
    status: &'static str,
    sessions: usize,
    /// Bumped on every disconnect: a grace timer acts only if nothing happened since it started.
    generation: u64,
    offline_since: Option<Instant>,
    /// Given work by automatic assignment (an `agent`; org_admins take it when they choose).
    assignable: bool,
}

/// A status that is not one of [`STATUSES`].
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown agent status `{0}`")]
pub struct UnknownStatus(pub String);

#[derive(Default)]
pub struct Presence {
    agents: DashMap<(OrgId, Uuid), AgentPresence>,
}

fn canonical(status: &str) -> &'static str {
    STATUSES.iter().find(|s| **s == status).copied().unwrap_or("available")
}

impl Presence {
    /// A socket opened. Returns the status when it changed (a returning agent is `available`
    /// unless they had chosen busy or away). `assignable`: the user is an agent, whom automatic
    /// assignment may give work to.
    pub fn connect(&self, org: OrgId, user: Uuid, stored: &str, assignable: bool) -> Option<&'static str> {
        let mut entry = self.agents.entry((org, user)).or_insert_with(|| AgentPresence {
            status: "offline",
            sessions: 0,
            generation: 0,
            offline_since: None,
            assignable: false,
        });
        entry.sessions += 1;
        entry.generation += 1;
        entry.assignable = assignable;
        entry.offline_since = None;
        if entry.status == "offline" {
            let chosen = canonical(stored);
            entry.status = if chosen == "offline" { "available" } else { chosen };
            return Some(entry.status);
        }
        None
    }

    /// A socket closed. Returns the generation to hand to [`Presence::expire`] after the grace
    /// period when it was the agent's last socket.
    pub fn disconnect(&self, org: OrgId, user: Uuid) -> Option<u64> {
        let mut entry = self.agents.get_mut(&(org, user))?;
        entry.sessions = entry.sessions.saturating_sub(1);
        entry.generation += 1;
        (entry.sessions == 0).then_some(entry.generation)
    }

    /// The grace period ended: offline if nothing happened since. True when the agent went offline.
    pub fn expire(&self, org: OrgId, user: Uuid, generation: u64) -> bool {
        match self.agents.get_mut(&(org, user)) {
            Some(mut e) if e.sessions == 0 && e.generation == generation && e.status != "offline" => {
                e.status = "offline";
                e.offline_since = Some(Instant::now());
                true
            }
            _ => false,
        }
    }

    /// Still offline since the given generation (for re-queueing their conversations).
    pub fn still_offline(&self, org: OrgId, user: Uuid, generation: u64) -> bool {
        self.agents.get(&(org, user)).is_some_and(|e| e.sessions == 0 && e.generation == generation)
    }

    /// Sets a chosen status; returns it when it changed. Unknown statuses are refused.
    pub fn set(&self, org: OrgId, user: Uuid, status: &str) -> Result<Option<&'static str>, UnknownStatus> {
        let status = *STATUSES.iter().find(|s| **s == status).ok_or_else(|| UnknownStatus(status.to_string()))?;
        let mut entry = self.agents.entry((org, user)).or_insert_with(|| AgentPresence {
            status: "offline",
            sessions: 0,
            generation: 0,
            offline_since: None,
            assignable: false,
        });
        if entry.status == status {
            return Ok(None);
        }
        entry.status = status;
        entry.offline_since = (status == "offline").then(Instant::now);
        Ok(Some(status))
    }

    pub fn status(&self, org: OrgId, user: Uuid) -> &'static str {
        self.agents.get(&(org, user)).map_or("offline", |e| e.status)
    }

    /// Connected agents of `org` who are available for automatic assignment (role `agent`).
    pub fn available(&self, org: OrgId) -> Vec<Uuid> {
        let mut v: Vec<Uuid> = self
            .agents
            .iter()
            .filter(|e| e.key().0 == org && e.sessions > 0 && e.status == "available" && e.assignable)
            .map(|e| e.key().1)
            .collect();
        v.sort();
        v
    }

    /// Every agent with a socket on this node.
    pub fn connected(&self) -> Vec<(OrgId, Uuid)> {
        self.agents.iter().filter(|e| e.sessions > 0).map(|e| *e.key()).collect()
    }

    /// Every agent of `org` this node knows, with their status.
    pub fn all(&self, org: OrgId) -> Vec<(Uuid, &'static str)> {
        let mut v: Vec<(Uuid, &'static str)> =
            self.agents.iter().filter(|e| e.key().0 == org).map(|e| (e.key().1, e.status)).collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_only_after_the_last_socket_and_the_grace_period() {
        #[allow(clippy::disallowed_methods)]
        let org = OrgId::assume_verified(Uuid::now_v7());
        let user = Uuid::now_v7();
        let p = Presence::default();
        assert_eq!(p.connect(org, user, "offline", true), Some("available"));
        assert_eq!(p.available(org), vec![user]);
        let admin = Uuid::now_v7();
        assert_eq!(p.connect(org, admin, "available", false), Some("available"));
        assert_eq!(p.available(org), vec![user], "an org_admin is not given work automatically");
        assert_eq!(p.connect(org, user, "offline", true), None, "a second tab changes nothing");
        assert_eq!(p.disconnect(org, user), None, "one socket is still open");
        let generation = p.disconnect(org, user).expect("last socket");
        assert_eq!(p.available(org), Vec::<Uuid>::new(), "no socket: not offered work");
        assert!(p.expire(org, user, generation));
        assert_eq!(p.status(org, user), "offline");
        assert!(p.still_offline(org, user, generation));
        // A reconnect inside the grace period cancels the expiry.
        let generation = {
            p.connect(org, user, "busy", true);
            p.disconnect(org, user).expect("last")
        };
        p.connect(org, user, "busy", true);
        assert!(!p.expire(org, user, generation));
        assert_eq!(p.set(org, user, "away"), Ok(Some("away")));
        assert_eq!(p.set(org, user, "sleeping"), Err(UnknownStatus("sleeping".into())));
    }
}
