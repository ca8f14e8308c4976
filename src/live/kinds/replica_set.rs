//! ReplicaSets: a Deployment's revisions (acted on through the Deployment), or on their own,
//! restarted by evictions.

use super::{OwnerKind, Restart, owner};
use crate::live::{Kind, Owner, OwnerSpec};
use k8s_openapi::api::apps::v1::ReplicaSet;

impl OwnerKind for ReplicaSet {
    const KIND: Kind = Kind::ReplicaSet;
    const PARENT: Option<Kind> = Some(Kind::Deployment);
    const RESTART: Restart = Restart::Evict;

    fn owner(&self) -> Owner {
        let revision = self
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("deployment.kubernetes.io/revision"))
            .and_then(|v| v.parse().ok());
        let spec = self.spec.as_ref();
        owner(
            self,
            spec.and_then(|s| s.template.as_ref())
                .and_then(|t| t.metadata.as_ref()),
            OwnerSpec::ReplicaSet {
                revision,
                replicas: spec.and_then(|s| s.replicas).unwrap_or(1),
            },
        )
    }
}
