//! The owner kinds: the Kubernetes types whose objects own pods, one file each.
//!
//! Each file implements [`OwnerKind`] once for a k8s-openapi type: how an object reduces to the
//! live model's [`Owner`], which controller one level up the planner acts on instead
//! (`ReplicaSet` -> `Deployment`) and how `apply` restarts its pods. Everything else iterates
//! over [`each`] (the cluster reader's lists, the snapshot reader) or looks a kind up with
//! [`find`] (the planner's owner resolution, `apply`'s requests); none of them names a kind.
//! `Pod` is not an owner kind: a pod without a controller is acted on as itself.
//!
//! Adding an owner kind:
//! 1. a file here implementing [`OwnerKind`] (with a unit test of its conversion), its `mod`
//!    and its line in [`each`];
//! 2. its variant of [`Kind`] (`from_name`, `as_str`); if its pods restart unlike those of an
//!    existing kind, its [`OwnerSpec`] variant and the planner's rule for it
//!    (`plan/workloads.rs`);
//! 3. RBAC: `list` cluster-wide in `manifests/base` and `manifests/readonly`, plus `get` and
//!    `patch` in `manifests/base` if `apply` restarts it through the template; the `USED` table
//!    of `tests/cluster/manifests/rbac.rs`;
//! 4. tests: a case in `tests/offline/planner.rs` (`actions_by_owner_kind`) and one on a cluster
//!    in `tests/cluster/kinds.rs`.

mod cron_job;
mod daemon_set;
mod deployment;
mod job;
mod replica_set;
mod replication_controller;
mod stateful_set;

use super::convert::Builder;
use super::{Kind, ModuleRelease, ObjectKey, Owner, OwnerRef, OwnerSpec, Seen};
use super::{OPERATOR_RESTARTED_AT_ANNOTATION, TOOL_PREFIX, opted_out};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{PodSpec, ReplicationController};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::core::{ApiResource, NamespaceResourceScope};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// How `apply` makes the pods of a kind pick up a new sidecar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// A rolling restart through the pod template (server-side apply of this tool's
    /// annotations), followed by reading the object back; pods of an `OnDelete` strategy are
    /// evicted instead.
    Template,
    /// Evictions one pod at a time; the controller replaces the pods.
    Evict,
    /// Not by this tool: a person acts (a Job runs to completion).
    Manual,
}

/// A Kubernetes type whose objects own pods. Implemented once per kind, in this folder.
pub trait OwnerKind:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Serialize
    + Send
    + Sync
    + 'static
{
    /// The kind in the live model (its name is the API's `kind`).
    const KIND: Kind;
    /// The controller that owns objects of this kind and that the planner acts on instead, when
    /// an object has one (`ReplicaSet` -> `Deployment`, `Job` -> `CronJob`).
    const PARENT: Option<Kind> = None;
    const RESTART: Restart;

    /// The object reduced to what the planner and `apply` read.
    fn owner(&self) -> Owner;

    /// The pod spec that stands in for the control plane's pods when none was captured (for the
    /// kinds the control plane runs as: Deployments and DaemonSets).
    fn control_plane_template(&self) -> Option<&PodSpec> {
        None
    }

    /// What the object says about the installed module, if it is the module manager.
    fn module_release(&self) -> Option<ModuleRelease> {
        None
    }
}

/// Something done once per owner kind, with its type.
pub trait Visit {
    fn visit<K: OwnerKind>(&mut self);
}

/// Every owner kind, in the order the cluster reader lists them: the one list of them.
pub fn each(v: &mut impl Visit) {
    v.visit::<Deployment>();
    v.visit::<StatefulSet>();
    v.visit::<DaemonSet>();
    v.visit::<ReplicaSet>();
    v.visit::<ReplicationController>();
    v.visit::<Job>();
    v.visit::<CronJob>();
}

/// An owner kind as looked up by its [`Kind`], without its type.
#[derive(Debug)]
pub struct Registered {
    pub kind: Kind,
    pub parent: Option<Kind>,
    pub restart: Restart,
    /// Group, version, kind and plural, as requests name them.
    pub api: ApiResource,
    /// Decodes an object of this kind as the API server serves it, and reduces it.
    pub owner_from_json: fn(serde_json::Value) -> serde_json::Result<Owner>,
}

fn owner_from_json<K: OwnerKind>(v: serde_json::Value) -> serde_json::Result<Owner> {
    serde_json::from_value::<K>(v).map(|o| o.owner())
}

static REGISTRY: LazyLock<Vec<Registered>> = LazyLock::new(|| {
    struct Collect(Vec<Registered>);
    impl Visit for Collect {
        fn visit<K: OwnerKind>(&mut self) {
            self.0.push(Registered {
                kind: K::KIND,
                parent: K::PARENT,
                restart: K::RESTART,
                api: ApiResource::erase::<K>(&()),
                owner_from_json: owner_from_json::<K>,
            });
        }
    }
    let mut c = Collect(Vec::new());
    each(&mut c);
    c.0
});

/// Every owner kind, in the order of [`each`].
pub fn all() -> &'static [Registered] {
    &REGISTRY
}

/// The owner kind `kind`, if it is one.
pub fn find(kind: &Kind) -> Option<&'static Registered> {
    REGISTRY.iter().find(|r| r.kind == *kind)
}

/// An object of some owner kind, its type erased: what the cluster reader hands on.
pub trait AnyOwner: Send {
    /// The object as served (for the snapshot writer).
    fn to_json(&self) -> serde_json::Result<serde_json::Value>;
    /// Reduces the object into the live state.
    fn add_to(&self, b: &mut Builder);
}

impl<K: OwnerKind> AnyOwner for K {
    fn to_json(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::to_value(self)
    }

    fn add_to(&self, b: &mut Builder) {
        b.workload(self);
    }
}

/// The parts of an [`Owner`] every kind reads alike; `template` is the pod template's metadata
/// (its annotations of this tool).
fn owner<K: OwnerKind>(o: &K, template: Option<&ObjectMeta>, spec: OwnerSpec) -> Owner {
    let meta = o.meta();
    Owner {
        key: ObjectKey::new(
            K::KIND,
            meta.namespace.as_deref().unwrap_or("default"),
            meta.name.as_deref().unwrap_or_default(),
        ),
        owner: controller(meta),
        labels: meta.labels.clone().unwrap_or_default(),
        skip: opted_out(|k| meta.annotations.as_ref().and_then(|a| a.get(k))),
        template_annotations: tool_annotations(template),
        seen: Seen {
            generation: meta.generation.unwrap_or(0),
            operator_restarted_at: template
                .and_then(|m| m.annotations.as_ref())
                .and_then(|a| a.get(OPERATOR_RESTARTED_AT_ANNOTATION))
                .cloned(),
        },
        spec,
    }
}

fn controller(meta: &ObjectMeta) -> Option<OwnerRef> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| OwnerRef {
            kind: Kind::from_name(&o.kind),
            name: o.name.as_str().into(),
        })
}

fn tool_annotations(meta: Option<&ObjectMeta>) -> BTreeMap<String, String> {
    meta.and_then(|m| m.annotations.as_ref())
        .map(|a| {
            a.iter()
                .filter(|(k, _)| k.starts_with(TOOL_PREFIX))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_once_named_as_the_api_names_it() {
        let kinds: Vec<&Kind> = all().iter().map(|r| &r.kind).collect();
        assert_eq!(
            kinds,
            [
                &Kind::Deployment,
                &Kind::StatefulSet,
                &Kind::DaemonSet,
                &Kind::ReplicaSet,
                &Kind::ReplicationController,
                &Kind::Job,
                &Kind::CronJob
            ]
        );
        for r in all() {
            assert_eq!(r.api.kind, r.kind.as_str());
            assert_eq!(Kind::from_name(&r.api.kind), r.kind);
            assert!(std::ptr::eq(find(&r.kind).expect("registered"), r));
        }
        assert!(find(&Kind::Pod).is_none());
        assert!(find(&Kind::Other("Rollout".into())).is_none());
    }

    #[test]
    fn what_apply_and_the_planner_look_up() {
        let parent = |k| find(&k).and_then(|r| r.parent.clone());
        assert_eq!(parent(Kind::ReplicaSet), Some(Kind::Deployment));
        assert_eq!(parent(Kind::Job), Some(Kind::CronJob));
        assert_eq!(parent(Kind::Deployment), None);
        let restart = |k| find(&k).map(|r| r.restart);
        assert_eq!(restart(Kind::DaemonSet), Some(Restart::Template));
        assert_eq!(restart(Kind::ReplicationController), Some(Restart::Evict));
        assert_eq!(restart(Kind::CronJob), Some(Restart::Manual));
        let rs = find(&Kind::ReplicaSet).expect("registered");
        assert_eq!(
            (rs.api.api_version.as_str(), rs.api.plural.as_str()),
            ("apps/v1", "replicasets")
        );
    }

    #[test]
    fn objects_from_json_keep_their_controller_skip_and_tool_annotations() {
        let rs = serde_json::json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-1", "namespace": "shop",
                "annotations": {"istio-rollout/skip": "true", "deployment.kubernetes.io/revision": "3"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "u", "controller": true}]},
            "spec": {"selector": {}, "template": {"metadata": {"annotations": {"istio-rollout/restarted-for": "x", "other": "y"}}}}
        });
        let o =
            (find(&Kind::ReplicaSet).expect("registered").owner_from_json)(rs).expect("decodes");
        assert_eq!(o.key, ObjectKey::new(Kind::ReplicaSet, "shop", "web-1"));
        let parent = o.owner.expect("a controller");
        assert_eq!((parent.kind, &*parent.name), (Kind::Deployment, "web"));
        assert_eq!(o.skip, Some("istio-rollout/skip"));
        assert_eq!(
            o.template_annotations.keys().collect::<Vec<_>>(),
            ["istio-rollout/restarted-for"]
        );
        assert!(matches!(
            o.spec,
            OwnerSpec::ReplicaSet {
                revision: Some(3),
                replicas: 1
            }
        ));
    }
}
