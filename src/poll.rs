//! The one way this tool waits: look, sleep by a delay policy, look again, all of it under one
//! `tokio::time::timeout` when the wait has a bound of its own.
//!
//! Every wait of `apply` (rollouts, replaced pods, PodDisruptionBudgets, evictions, the operator)
//! goes through [`until`]; the request retry of the cluster reader takes its delays from
//! [`Backoff`]. kube's `await_condition` would need a watch (another verb to grant in RBAC, and a
//! stream per workload); a `get` per look is what the tool's permissions and tests are built on.

use std::time::Duration;

/// The delays between looks: `first`, then doubled after each look, never above `cap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    cap: Duration,
}

impl Backoff {
    /// The same delay every time.
    pub const fn constant(every: Duration) -> Self {
        Backoff {
            first: every,
            cap: every,
        }
    }

    /// `first`, `2 * first`, ... up to `cap`. `first` is used as given, even above `cap`.
    pub const fn exponential(first: Duration, cap: Duration) -> Self {
        Backoff { first, cap }
    }

    pub fn delays(self) -> Delays {
        Delays {
            next: self.first,
            cap: self.cap,
        }
    }
}

/// The endless sequence of delays of a [`Backoff`].
#[derive(Clone, Debug)]
pub struct Delays {
    next: Duration,
    cap: Duration,
}

impl Iterator for Delays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let d = self.next;
        self.next = d.saturating_mul(2).min(self.cap);
        Some(d)
    }
}

impl Delays {
    /// Sleeps the next delay.
    pub async fn sleep(&mut self) {
        let d = self.next().expect("the delays never end");
        tokio::time::sleep(d).await;
    }
}

/// What one look found.
#[derive(Debug, PartialEq, Eq)]
pub enum Check<T> {
    Done(T),
    /// Not yet, and why (the last one is reported when the wait times out).
    Pending(String),
}

/// How a wait ended without its condition.
#[derive(Debug, PartialEq, Eq)]
pub enum Wait<E> {
    /// A look failed: the wait stops at once.
    Failed(E),
    /// The bound ran out; `last` is why the last look was not done, if a look completed.
    TimedOut { last: Option<String> },
}

/// Looks with `check` until it is done or fails, sleeping `backoff`'s delays between looks. With a
/// `bound`, the whole wait (looks included) is cut off by `tokio::time::timeout` after it;
/// without, the caller's own timeout bounds it.
pub async fn until<T, E>(
    backoff: Backoff,
    bound: Option<Duration>,
    mut check: impl AsyncFnMut() -> Result<Check<T>, E>,
) -> Result<T, Wait<E>> {
    let mut last = None;
    let mut delays = backoff.delays();
    let waiting = async {
        loop {
            match check().await {
                Ok(Check::Done(v)) => return Ok(v),
                Ok(Check::Pending(why)) => last = Some(why),
                Err(e) => return Err(Wait::Failed(e)),
            }
            delays.sleep().await;
        }
    };
    let outcome = match bound {
        None => waiting.await,
        Some(b) => tokio::time::timeout(b, waiting)
            .await
            .unwrap_or(Err(Wait::TimedOut { last: None })),
    };
    match outcome {
        Err(Wait::TimedOut { .. }) => Err(Wait::TimedOut { last }),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delays_double_up_to_the_cap() {
        let d: Vec<_> = Backoff::exponential(250 * MS, 2000 * MS)
            .delays()
            .take(6)
            .collect();
        assert_eq!(d, [250, 500, 1000, 2000, 2000, 2000].map(|n| n * MS));
        let c: Vec<_> = Backoff::constant(2000 * MS).delays().take(3).collect();
        assert_eq!(c, [2000 * MS; 3]);
        // Above the cap at first (a poll interval longer than the cap): used once, then capped.
        let a: Vec<_> = Backoff::exponential(40_000 * MS, 30_000 * MS)
            .delays()
            .take(2)
            .collect();
        assert_eq!(a, [40_000 * MS, 30_000 * MS]);
    }

    #[tokio::test(start_paused = true)]
    async fn waits_until_done_with_the_policys_delays() {
        let start = tokio::time::Instant::now();
        let mut looks = Vec::new();
        let r: Result<u32, Wait<()>> = until(
            Backoff::exponential(250 * MS, 1000 * MS),
            None,
            async || {
                looks.push(start.elapsed());
                Ok(if looks.len() == 5 {
                    Check::Done(7)
                } else {
                    Check::Pending("not yet".into())
                })
            },
        )
        .await;
        assert_eq!(r, Ok(7));
        assert_eq!(looks, [0, 250, 750, 1750, 2750].map(|n| n * MS));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_look_ends_the_wait() {
        let mut n = 0;
        let r: Result<(), Wait<&str>> = until(Backoff::constant(MS), Some(1000 * MS), async || {
            n += 1;
            if n == 3 {
                Err("gone")
            } else {
                Ok(Check::Pending(format!("look {n}")))
            }
        })
        .await;
        assert_eq!(r, Err(Wait::Failed("gone")));
        assert_eq!(n, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn the_bound_ends_the_wait_with_the_last_reason() {
        let start = tokio::time::Instant::now();
        let mut n = 0;
        let r: Result<(), Wait<()>> =
            until(Backoff::constant(2000 * MS), Some(5000 * MS), async || {
                n += 1;
                Ok(Check::Pending(format!("look {n}")))
            })
            .await;
        assert_eq!(
            r,
            Err(Wait::TimedOut {
                last: Some("look 3".into())
            })
        );
        assert_eq!(start.elapsed(), 5000 * MS);
    }
}
