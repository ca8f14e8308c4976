//! Whether a workload's rollout is complete, by the rules `kubectl rollout status` uses.

use super::{OwnerSpec, RolloutStatus};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RolloutState {
    Complete,
    InProgress(String),
    /// No rollout is under way (the template's revision is everywhere) but not every pod is
    /// ready or available: waiting would not change that.
    Unready(String),
    Failed(String),
    /// The kind has no rollout (ReplicaSet, Job, ...) or its strategy does not roll (OnDelete).
    NotApplicable,
}

pub fn rollout_state(spec: &OwnerSpec) -> RolloutState {
    match spec {
        OwnerSpec::Deployment {
            replicas, status, ..
        } => deployment(*replicas, status),
        OwnerSpec::StatefulSet {
            replicas,
            on_delete: false,
            partition,
            status,
        } => stateful_set(*replicas, *partition, status),
        OwnerSpec::DaemonSet {
            on_delete: false,
            status,
        } => daemon_set(status),
        _ => RolloutState::NotApplicable,
    }
}

fn deployment(replicas: i32, s: &RolloutStatus) -> RolloutState {
    if s.generation > s.observed_generation {
        return RolloutState::InProgress("waiting for the rollout to be observed".into());
    }
    if s.deadline_exceeded {
        return RolloutState::Failed("progress deadline exceeded".into());
    }
    if s.updated < replicas {
        return RolloutState::InProgress(format!(
            "{} of {replicas} new replicas updated",
            s.updated
        ));
    }
    if s.replicas > s.updated {
        return RolloutState::InProgress(format!(
            "{} old replicas pending termination",
            s.replicas - s.updated
        ));
    }
    if s.available < s.updated {
        return RolloutState::Unready(format!(
            "{} of {} updated replicas available",
            s.available, s.updated
        ));
    }
    RolloutState::Complete
}

fn stateful_set(replicas: i32, partition: i32, s: &RolloutStatus) -> RolloutState {
    if s.generation > s.observed_generation {
        return RolloutState::InProgress("waiting for the rollout to be observed".into());
    }
    if s.updated < replicas - partition {
        return RolloutState::InProgress(format!(
            "{} of {} pods updated",
            s.updated,
            replicas - partition
        ));
    }
    if s.available < replicas {
        return RolloutState::Unready(format!("{} of {replicas} pods ready", s.available));
    }
    RolloutState::Complete
}

fn daemon_set(s: &RolloutStatus) -> RolloutState {
    if s.generation > s.observed_generation {
        return RolloutState::InProgress("waiting for the rollout to be observed".into());
    }
    if s.updated < s.replicas {
        return RolloutState::InProgress(format!("{} of {} pods updated", s.updated, s.replicas));
    }
    if s.available < s.replicas {
        return RolloutState::Unready(format!(
            "{} of {} updated pods available",
            s.available, s.replicas
        ));
    }
    RolloutState::Complete
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(status: RolloutStatus) -> OwnerSpec {
        OwnerSpec::Deployment {
            paused: false,
            replicas: 3,
            recreate: false,
            max_surge: None,
            max_unavailable: None,
            status,
        }
    }

    #[test]
    fn deployment_rules() {
        let done = RolloutStatus {
            generation: 2,
            observed_generation: 2,
            replicas: 3,
            updated: 3,
            available: 3,
            ..Default::default()
        };
        assert_eq!(rollout_state(&dep(done.clone())), RolloutState::Complete);
        let unobserved = RolloutStatus {
            generation: 3,
            ..done.clone()
        };
        assert!(matches!(
            rollout_state(&dep(unobserved)),
            RolloutState::InProgress(_)
        ));
        let surging = RolloutStatus {
            replicas: 4,
            ..done.clone()
        };
        assert!(
            matches!(rollout_state(&dep(surging)), RolloutState::InProgress(m) if m.contains("old replicas"))
        );
        // Every replica updated, one not available: no rollout is under way.
        let unavailable = RolloutStatus {
            available: 2,
            ..done.clone()
        };
        assert!(matches!(
            rollout_state(&dep(unavailable)),
            RolloutState::Unready(_)
        ));
        let failed = RolloutStatus {
            deadline_exceeded: true,
            updated: 1,
            ..done
        };
        assert!(matches!(
            rollout_state(&dep(failed)),
            RolloutState::Failed(_)
        ));
    }

    #[test]
    fn stateful_set_partition_and_on_delete() {
        let s = RolloutStatus {
            generation: 1,
            observed_generation: 1,
            replicas: 3,
            updated: 1,
            available: 3,
            ..Default::default()
        };
        let sts = |partition, on_delete| OwnerSpec::StatefulSet {
            replicas: 3,
            on_delete,
            partition,
            status: s.clone(),
        };
        assert!(matches!(
            rollout_state(&sts(0, false)),
            RolloutState::InProgress(_)
        ));
        assert_eq!(rollout_state(&sts(2, false)), RolloutState::Complete);
        assert_eq!(rollout_state(&sts(0, true)), RolloutState::NotApplicable);
    }

    #[test]
    fn daemon_set_rules() {
        let s = RolloutStatus {
            generation: 1,
            observed_generation: 1,
            replicas: 3,
            updated: 3,
            available: 2,
            ..Default::default()
        };
        assert!(matches!(
            rollout_state(&OwnerSpec::DaemonSet {
                on_delete: false,
                status: s.clone()
            }),
            RolloutState::Unready(_)
        ));
        let updating = RolloutStatus {
            updated: 2,
            ..s.clone()
        };
        assert!(matches!(
            rollout_state(&OwnerSpec::DaemonSet {
                on_delete: false,
                status: updating
            }),
            RolloutState::InProgress(_)
        ));
        let s = RolloutStatus { available: 3, ..s };
        assert_eq!(
            rollout_state(&OwnerSpec::DaemonSet {
                on_delete: false,
                status: s
            }),
            RolloutState::Complete
        );
    }
}
