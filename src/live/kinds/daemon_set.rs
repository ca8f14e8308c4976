//! DaemonSets: rolling restarts through the pod template, or evictions under `OnDelete`. The
//! control plane's CNI node agent is one.

use super::{OwnerKind, Restart, owner};
use crate::live::{Kind, Owner, OwnerSpec, RolloutStatus};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::PodSpec;

impl OwnerKind for DaemonSet {
    const KIND: Kind = Kind::DaemonSet;
    const RESTART: Restart = Restart::Template;

    fn owner(&self) -> Owner {
        let spec = self.spec.as_ref();
        let status = self.status.as_ref();
        let rollout = RolloutStatus {
            generation: self.metadata.generation.unwrap_or(0),
            observed_generation: status.and_then(|s| s.observed_generation).unwrap_or(0),
            replicas: status.map_or(0, |s| s.desired_number_scheduled),
            updated: status.and_then(|s| s.updated_number_scheduled).unwrap_or(0),
            available: status.and_then(|s| s.number_available).unwrap_or(0),
            deadline_exceeded: false,
            update_revision: None,
        };
        owner(
            self,
            spec.and_then(|s| s.template.metadata.as_ref()),
            OwnerSpec::DaemonSet {
                on_delete: spec
                    .and_then(|s| s.update_strategy.as_ref())
                    .and_then(|s| s.type_.as_deref())
                    == Some("OnDelete"),
                status: rollout,
            },
        )
    }

    fn control_plane_template(&self) -> Option<&PodSpec> {
        self.spec.as_ref().and_then(|s| s.template.spec.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_delete_and_scheduled_counts() {
        let d: DaemonSet = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "agent", "namespace": "ops"},
            "spec": {"selector": {}, "template": {}, "updateStrategy": {"type": "OnDelete"}},
            "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberMisscheduled": 0,
                       "numberReady": 2, "updatedNumberScheduled": 1, "numberAvailable": 2}
        }))
        .expect("a DaemonSet");
        let OwnerSpec::DaemonSet { on_delete, status } = d.owner().spec else {
            panic!("not a DaemonSet spec");
        };
        assert!(on_delete);
        assert_eq!(
            (status.replicas, status.updated, status.available),
            (3, 1, 2)
        );
    }
}
