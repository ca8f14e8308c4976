//! One runner at a time: `apply` holds a Lease (coordination.k8s.io/v1) while it acts, so that a
//! CronJob run and a sync hook never restart workloads at once. The locking itself is
//! `kube-lease-manager`'s (server-side apply of `holderIdentity`, renewed before it expires);
//! this module decides what a run does around it: wait for a held lease or give up at once,
//! retry what a flaky API server fails, and stop the run when the lease is lost.

use crate::error::{Error, Result};
use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use kube_lease_manager::{LeaseCreateMode, LeaseManager, LeaseManagerBuilder, LeaseManagerError};
use std::future::Future;
use std::time::{Duration, SystemTime};

/// How long a lease lasts after its last renewal. A run that is killed frees it after this long.
pub const DURATION_SECS: u64 = 30;
/// Renewed this long before it would expire (also the clock skew it tolerates).
const GRACE_SECS: u64 = 10;
/// Taking a free lease takes a few requests; this bounds them (retries included) when the
/// run does not wait for a held one.
const ACQUIRE_FOR: Duration = Duration::from_secs(20);
/// Between retries of a failed lease request.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// Which Lease to hold, and how long to wait for it when another runner holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseOptions {
    pub namespace: String,
    pub name: String,
    pub wait: Duration,
}

impl LeaseOptions {
    /// `NAMESPACE/NAME`, as `--lease` takes it.
    pub fn parse(value: &str, wait: Duration) -> std::result::Result<Self, String> {
        let (namespace, name) = value
            .split_once('/')
            .ok_or_else(|| format!("{value:?} is not NAMESPACE/NAME"))?;
        for (what, part) in [("namespace", namespace), ("name", name)] {
            let ok = !part.is_empty()
                && part.len() <= 63
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-');
            if !ok {
                return Err(format!(
                    "{what} {part:?} is not a DNS label (lower-case letters, digits, '-')"
                ));
            }
        }
        Ok(LeaseOptions {
            namespace: namespace.into(),
            name: name.into(),
            wait,
        })
    }

    fn describe(&self) -> String {
        format!("Lease {}/{}", self.namespace, self.name)
    }
}

/// This process's holder identity: the host (a pod's name) and the process, made unique.
pub fn identity() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "istio-rollout".into());
    let suffix: String = std::iter::repeat_with(fastrand::alphanumeric)
        .take(6)
        .collect();
    format!("{host}-{}-{suffix}", std::process::id())
}

/// Runs `work` while holding the lease: takes it (waiting up to `opts.wait` for another holder),
/// keeps it renewed while `work` runs, stops `work` if the lease is lost, and releases it after.
pub async fn hold<T>(
    client: &Client,
    opts: &LeaseOptions,
    identity: &str,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    let manager = acquire(client, opts, identity).await?;
    tracing::info!(lease = %opts.describe(), %identity, "holding the lease");
    let result = tokio::select! {
        r = work => r,
        lost = keep(&manager, opts) => Err(lost),
    };
    // Best effort: an unreleased lease expires after DURATION_SECS.
    match tokio::time::timeout(ACQUIRE_FOR, manager.release()).await {
        Ok(Ok(())) => tracing::info!(lease = %opts.describe(), "released the lease"),
        Ok(Err(e)) => {
            tracing::warn!(lease = %opts.describe(), error = %e, "could not release the lease; it expires on its own")
        }
        Err(_) => {
            tracing::warn!(lease = %opts.describe(), "releasing the lease timed out; it expires on its own")
        }
    }
    result
}

/// Takes the lease, or says who holds it.
async fn acquire(client: &Client, opts: &LeaseOptions, identity: &str) -> Result<LeaseManager> {
    let api: Api<Lease> = Api::namespaced(client.clone(), &opts.namespace);
    if opts.wait.is_zero()
        && let Some(held) = held_by_other(&api, opts, identity).await?
    {
        return Err(held);
    }
    let deadline = tokio::time::Instant::now() + opts.wait.max(ACQUIRE_FOR);
    let taken = async {
        let manager = loop {
            match LeaseManagerBuilder::new(client.clone(), &opts.name)
                .with_namespace(&opts.namespace)
                .with_create_mode(LeaseCreateMode::AutoCreate)
                .with_identity(identity)
                .with_field_manager(format!("{}-lease", super::FIELD_MANAGER))
                .with_duration(DURATION_SECS)
                .with_grace(GRACE_SECS)
                .build()
                .await
            {
                Ok(m) => break m,
                Err(e) => retry_or_fail(opts, "set up", e).await?,
            }
        };
        loop {
            match manager.changed().await {
                Ok(true) => return Ok(manager),
                Ok(false) => {}
                Err(e) => retry_or_fail(opts, "take", e).await?,
            }
        }
    };
    match tokio::time::timeout_at(deadline, taken).await {
        Ok(r) => r,
        Err(_) => Err(held_by_other(&api, opts, identity)
            .await?
            .unwrap_or_else(|| {
                Error::Failure(format!(
                    "{}: not taken within {} s",
                    opts.describe(),
                    opts.wait.max(ACQUIRE_FOR).as_secs()
                ))
            })),
    }
}

/// Renews the lease until it is lost; returns why it was lost. Never returns while it is held.
async fn keep(manager: &LeaseManager, opts: &LeaseOptions) -> Error {
    loop {
        match manager.changed().await {
            Ok(true) => {}
            Ok(false) => {
                return Error::Failure(format!(
                    "{}: lost to another runner while acting (not renewed for {DURATION_SECS} s); stopped",
                    opts.describe()
                ));
            }
            Err(LeaseManagerError::NonexistentLease(_)) => {
                return Error::Failure(format!(
                    "{}: deleted while acting; stopped",
                    opts.describe()
                ));
            }
            Err(e) => {
                tracing::debug!(lease = %opts.describe(), error = %e, "renewing the lease failed; retrying");
                tokio::time::sleep(RETRY_EVERY).await;
            }
        }
    }
}

/// A failed lease request: a permission error ends the run; anything else is retried.
async fn retry_or_fail(opts: &LeaseOptions, what: &str, e: LeaseManagerError) -> Result<()> {
    match e {
        LeaseManagerError::KubeError(kube::Error::Api(s))
            if matches!(s.code, 401 | 403 | 404 | 422) =>
        {
            Err(Error::api(
                format!("{what} {}", opts.describe()),
                kube::Error::Api(s),
            ))
        }
        e => {
            tracing::debug!(lease = %opts.describe(), error = %e, "lease request failed; retrying");
            tokio::time::sleep(RETRY_EVERY).await;
            Ok(())
        }
    }
}

/// `Some(error)` when another identity holds the lease and it has not expired.
async fn held_by_other(
    api: &Api<Lease>,
    opts: &LeaseOptions,
    identity: &str,
) -> Result<Option<Error>> {
    let what = format!("get {}", opts.describe());
    let mut stats = crate::live::cluster::Stats::default();
    let lease =
        match crate::live::cluster::retry(&mut stats, &what, || api.get_opt(&opts.name)).await? {
            Some(l) => l,
            None => return Ok(None),
        };
    let Some(spec) = lease.spec else {
        return Ok(None);
    };
    let Some(holder) = spec
        .holder_identity
        .filter(|h| !h.is_empty() && h != identity)
    else {
        return Ok(None);
    };
    let renewed = spec.renew_time.map(|t| SystemTime::from(t.0));
    let duration = Duration::from_secs(spec.lease_duration_seconds.unwrap_or(0).max(0) as u64);
    let expires = renewed.and_then(|r| r.checked_add(duration));
    if expires.is_none_or(|e| e <= SystemTime::now()) {
        return Ok(None);
    }
    let ago = renewed
        .and_then(|r| SystemTime::now().duration_since(r).ok())
        .map_or(0, |d| d.as_secs());
    Ok(Some(Error::LeaseHeld {
        lease: opts.describe(),
        holder,
        renewed_ago: ago,
        waited: opts.wait.as_secs(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_names_are_namespace_slash_name() {
        let o = LeaseOptions::parse("kyma-system/istio-rollout", Duration::ZERO).unwrap();
        assert_eq!(
            (o.namespace.as_str(), o.name.as_str()),
            ("kyma-system", "istio-rollout")
        );
        for bad in [
            "istio-rollout",
            "/x",
            "x/",
            "Kyma/x",
            "a/b/c",
            "a/-b",
            "a/b_c",
            "a/b\nc",
        ] {
            assert!(LeaseOptions::parse(bad, Duration::ZERO).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn identities_differ_per_call_and_name_the_process() {
        let (a, b) = (identity(), identity());
        assert_ne!(a, b);
        assert!(a.contains(&format!("-{}-", std::process::id())), "{a}");
    }
}
