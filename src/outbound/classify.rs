//! What a failed send means: retry later, hold this recipient, pause the number, or give up (and
//! whether the number's token is bad). Decided by Meta's error code, never by its text.

use super::graph::SendError;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub enum Disposition {
    /// Try this message again after the delay.
    Retry(Duration),
    /// Too many messages to this user (131056): hold only this recipient.
    HoldRecipient(Duration),
    /// The number's throughput was exceeded (130429) or the app is rate limited: pause the number.
    PauseNumber(Duration),
    /// Do not retry. `bad_token` flags the number (190).
    Fail { bad_token: bool },
}

/// Exponential backoff from `base`, doubled per attempt, capped, with up to 25 % jitter.
pub fn backoff(base: Duration, attempt: u32, cap: Duration, jitter: f64) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.min(16));
    let d = exp.min(cap);
    d + d.mul_f64(jitter.clamp(0.0, 1.0) * 0.25)
}

/// `attempt` counts from 0 (the first failure). `jitter` is a number in [0, 1).
pub fn classify(error: &SendError, attempt: u32, max_attempts: u32, jitter: f64) -> Disposition {
    let give_up = attempt + 1 >= max_attempts;
    let retry = |base_ms: u64, cap_s: u64| {
        if give_up {
            Disposition::Fail { bad_token: false }
        } else {
            Disposition::Retry(backoff(Duration::from_millis(base_ms), attempt, Duration::from_secs(cap_s), jitter))
        }
    };
    match error {
        SendError::Transport(_) => retry(500, 300),
        SendError::Graph(g) => match g.code {
            190 | 0 if g.http_status == 401 || g.code == 190 => Disposition::Fail { bad_token: true },
            130429 => {
                if give_up {
                    Disposition::Fail { bad_token: false }
                } else {
                    Disposition::PauseNumber(backoff(Duration::from_secs(1), attempt, Duration::from_secs(60), jitter))
                }
            }
            // Pair rate: Meta advises waiting 4^X seconds.
            131056 => {
                if give_up {
                    Disposition::Fail { bad_token: false }
                } else {
                    Disposition::HoldRecipient(Duration::from_secs(4u64.saturating_pow(attempt + 1).min(900)))
                }
            }
            4 | 80007 => {
                if give_up {
                    Disposition::Fail { bad_token: false }
                } else {
                    Disposition::PauseNumber(
                        Duration::from_secs(60 * u64::from(attempt + 1)).min(Duration::from_secs(900)),
                    )
                }
            }
            // Unknown, temporary, service unavailable; maintenance (minutes).
            1 | 2 | 131000 | 131016 => retry(1000, 300),
            131057 => retry(30_000, 600),
            // A 5xx without a known code is Meta's trouble, not the message's.
            _ if g.http_status >= 500 => retry(1000, 300),
            // 131047 window, 131026 undeliverable, 131051 type, 100/131008/131009 parameters,
            // 131048/131049/131050 quality and opt-out, 130403, 132xxx templates, permissions...
            _ => Disposition::Fail { bad_token: false },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::graph::GraphError;
    use super::*;

    fn graph(code: i64, http: u16) -> SendError {
        SendError::Graph(GraphError { code, title: "t".into(), details: None, http_status: http })
    }

    #[test]
    fn codes_map_to_their_dispositions() {
        assert!(matches!(classify(&graph(130429, 400), 0, 8, 0.0), Disposition::PauseNumber(_)));
        assert_eq!(classify(&graph(131056, 400), 0, 8, 0.0), Disposition::HoldRecipient(Duration::from_secs(4)));
        assert_eq!(classify(&graph(131056, 400), 1, 8, 0.0), Disposition::HoldRecipient(Duration::from_secs(16)));
        assert!(matches!(classify(&graph(131000, 500), 0, 8, 0.0), Disposition::Retry(_)));
        assert!(matches!(classify(&graph(0, 503), 0, 8, 0.0), Disposition::Retry(_)));
        assert!(matches!(classify(&SendError::Transport("timeout".into()), 0, 8, 0.0), Disposition::Retry(_)));
        for code in [131047, 131026, 131051, 100, 131049] {
            assert_eq!(classify(&graph(code, 400), 0, 8, 0.0), Disposition::Fail { bad_token: false }, "{code}");
        }
        assert_eq!(classify(&graph(190, 401), 0, 8, 0.0), Disposition::Fail { bad_token: true });
        assert_eq!(
            classify(&graph(131000, 500), 7, 8, 0.0),
            Disposition::Fail { bad_token: false },
            "the last attempt gives up"
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let b = |a| backoff(Duration::from_millis(500), a, Duration::from_secs(10), 0.0);
        assert_eq!(
            (b(0), b(1), b(2), b(10)),
            (Duration::from_millis(500), Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(10))
        );
        assert!(backoff(Duration::from_secs(1), 0, Duration::from_secs(10), 0.99) <= Duration::from_millis(1250));
    }
}
