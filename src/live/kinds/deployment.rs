//! Deployments: rolling restarts through the pod template. The module manager is one.

use super::{OwnerKind, Restart, owner};
use crate::live::convert::{is_manager, module_release};
use crate::live::{Kind, ModuleRelease, Owner, OwnerSpec, RolloutStatus};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::PodSpec;

impl OwnerKind for Deployment {
    const KIND: Kind = Kind::Deployment;
    const RESTART: Restart = Restart::Template;

    fn owner(&self) -> Owner {
        let spec = self.spec.as_ref();
        let status = self.status.as_ref();
        let strategy = spec.and_then(|s| s.strategy.as_ref());
        let deadline_exceeded = status.and_then(|s| s.conditions.as_ref()).is_some_and(|c| {
            c.iter().any(|c| {
                c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
            })
        });
        let rollout = RolloutStatus {
            generation: self.metadata.generation.unwrap_or(0),
            observed_generation: status.and_then(|s| s.observed_generation).unwrap_or(0),
            replicas: status.and_then(|s| s.replicas).unwrap_or(0),
            updated: status.and_then(|s| s.updated_replicas).unwrap_or(0),
            available: status.and_then(|s| s.available_replicas).unwrap_or(0),
            deadline_exceeded,
            update_revision: None,
        };
        owner(
            self,
            spec.and_then(|s| s.template.metadata.as_ref()),
            OwnerSpec::Deployment {
                paused: spec.and_then(|s| s.paused).unwrap_or(false),
                replicas: spec.and_then(|s| s.replicas).unwrap_or(1),
                recreate: strategy.and_then(|s| s.type_.as_deref()) == Some("Recreate"),
                max_surge: strategy
                    .and_then(|s| s.rolling_update.as_ref())
                    .and_then(|r| r.max_surge.clone()),
                max_unavailable: strategy
                    .and_then(|s| s.rolling_update.as_ref())
                    .and_then(|r| r.max_unavailable.clone()),
                status: rollout,
            },
        )
    }

    fn control_plane_template(&self) -> Option<&PodSpec> {
        self.spec.as_ref().and_then(|s| s.template.spec.as_ref())
    }

    fn module_release(&self) -> Option<ModuleRelease> {
        is_manager(&self.metadata).then(|| module_release(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    #[test]
    fn strategy_pause_and_a_missed_deadline() {
        let d: Deployment = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "shop", "generation": 4},
            "spec": {"paused": true, "replicas": 3, "selector": {}, "template": {},
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "50%"}}},
            "status": {"observedGeneration": 4, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 1,
                       "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}
        }))
        .expect("a Deployment");
        let OwnerSpec::Deployment {
            paused,
            replicas,
            recreate,
            max_surge,
            max_unavailable,
            status,
        } = d.owner().spec
        else {
            panic!("not a Deployment spec");
        };
        assert!(paused && !recreate);
        assert_eq!((replicas, max_surge), (3, Some(IntOrString::Int(0))));
        assert_eq!(max_unavailable, Some(IntOrString::String("50%".into())));
        assert_eq!(
            (status.generation, status.updated, status.available),
            (4, 2, 1)
        );
        assert!(status.deadline_exceeded);
        assert_eq!(d.module_release(), None);
    }
}
