//! ReplicationControllers: no rolling update, restarted by evictions.

use super::{OwnerKind, Restart, owner};
use crate::live::{Kind, Owner, OwnerSpec};
use k8s_openapi::api::core::v1::ReplicationController;

impl OwnerKind for ReplicationController {
    const KIND: Kind = Kind::ReplicationController;
    const RESTART: Restart = Restart::Evict;

    fn owner(&self) -> Owner {
        let spec = self.spec.as_ref();
        owner(
            self,
            spec.and_then(|s| s.template.as_ref())
                .and_then(|t| t.metadata.as_ref()),
            OwnerSpec::ReplicationController {
                replicas: spec.and_then(|s| s.replicas).unwrap_or(1),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_default_to_one() {
        let rc: ReplicationController = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "legacy", "namespace": "old"}, "spec": {}
        }))
        .expect("a ReplicationController");
        let o = rc.owner();
        assert_eq!(o.key.to_string(), "ReplicationController old/legacy");
        assert!(matches!(
            o.spec,
            OwnerSpec::ReplicationController { replicas: 1 }
        ));
    }
}
