//! StatefulSets: rolling restarts through the pod template, or evictions under `OnDelete`.

use super::{OwnerKind, Restart, owner};
use crate::live::{Kind, Owner, OwnerSpec, RolloutStatus};
use k8s_openapi::api::apps::v1::StatefulSet;

impl OwnerKind for StatefulSet {
    const KIND: Kind = Kind::StatefulSet;
    const RESTART: Restart = Restart::Template;

    fn owner(&self) -> Owner {
        let spec = self.spec.as_ref();
        let status = self.status.as_ref();
        let strategy = spec.and_then(|s| s.update_strategy.as_ref());
        let rollout = RolloutStatus {
            generation: self.metadata.generation.unwrap_or(0),
            observed_generation: status.and_then(|s| s.observed_generation).unwrap_or(0),
            replicas: status.map_or(0, |s| s.replicas),
            updated: status.and_then(|s| s.updated_replicas).unwrap_or(0),
            available: status.and_then(|s| s.ready_replicas).unwrap_or(0),
            deadline_exceeded: false,
            update_revision: status.and_then(|s| s.update_revision.clone()),
        };
        owner(
            self,
            spec.and_then(|s| s.template.metadata.as_ref()),
            OwnerSpec::StatefulSet {
                replicas: spec.and_then(|s| s.replicas).unwrap_or(1),
                on_delete: strategy.and_then(|s| s.type_.as_deref()) == Some("OnDelete"),
                partition: strategy
                    .and_then(|s| s.rolling_update.as_ref())
                    .and_then(|r| r.partition)
                    .unwrap_or(0),
                status: rollout,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_on_delete_and_the_update_revision() {
        let s: StatefulSet = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "db", "namespace": "shop"},
            "spec": {"selector": {}, "serviceName": "db", "template": {},
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}},
            "status": {"replicas": 3, "readyReplicas": 3, "updateRevision": "db-7"}
        }))
        .expect("a StatefulSet");
        let OwnerSpec::StatefulSet {
            replicas,
            on_delete,
            partition,
            status,
        } = s.owner().spec
        else {
            panic!("not a StatefulSet spec");
        };
        assert_eq!((replicas, on_delete, partition), (1, false, 2));
        assert_eq!((status.replicas, status.available), (3, 3));
        assert_eq!(status.update_revision.as_deref(), Some("db-7"));
    }
}
