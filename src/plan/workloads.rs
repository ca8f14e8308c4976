//! Pods grouped by the workload that owns them, and what to do with each workload.

use super::rules::{self, PROXY_IMAGE_ANNOTATION, Targets, check_pod};
use super::{Action, Entry, Finding, Reason};
use crate::live::rollout::{RolloutState, rollout_state};
use crate::live::{
    KYMA_MODULE_LABEL, KYMA_NAMESPACE, Kind, LiveState, ObjectKey, Owner, OwnerSpec, Pod, Proxy,
    RESTARTED_AT_ANNOTATION, RESTARTED_FOR_ANNOTATION, kinds,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::core::SelectorExt;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;
use std::sync::Arc;
use wildmatch::WildMatch;

type Annotations = BTreeMap<String, String>;
type Labels = BTreeMap<String, String>;

/// Context every decision needs.
pub(super) struct Ctx<'a> {
    pub live: &'a LiveState,
    pub targets: &'a Targets,
    pub gateway_signature: String,
    pub control_plane_ready: bool,
    pub opts: &'a super::Options,
    /// (namespace, Deployment) -> its newest ReplicaSet, computed once.
    pub newest_rs: BTreeMap<(&'a str, &'a str), &'a str>,
}

/// Every Deployment's newest ReplicaSet (highest revision), in one pass over the owners.
fn newest_replica_sets(live: &LiveState) -> BTreeMap<(&str, &str), &str> {
    let mut best: BTreeMap<(&str, &str), (i64, &str)> = BTreeMap::new();
    for o in live.owners.values() {
        let (OwnerSpec::ReplicaSet { revision, .. }, Some(parent)) = (&o.spec, &o.owner) else {
            continue;
        };
        if parent.kind != Kind::Deployment {
            continue;
        }
        let rev = revision.unwrap_or(0);
        let slot = best
            .entry((o.key.namespace.as_str(), &*parent.name))
            .or_insert((rev, o.key.name.as_str()));
        if rev > slot.0 {
            *slot = (rev, o.key.name.as_str());
        }
    }
    best.into_iter().map(|(k, (_, name))| (k, name)).collect()
}

/// What the rules found for a pod; pods that look alike share one list.
type Findings = Rc<Vec<Finding>>;

#[derive(Default)]
struct Group<'a> {
    pods: Vec<(&'a Pod, Findings)>,
    /// The owner named by the pod is not in the live state.
    missing: Option<String>,
}

/// The object acted on for a pod: its owner's controller where the owner kind names one
/// ([`kinds::Registered::parent`]: ReplicaSet -> Deployment, Job -> CronJob), else its owner, else
/// the pod.
fn resolve(live: &LiveState, pod: &Pod) -> (ObjectKey, Option<String>) {
    let Some(o) = &pod.owner else {
        return (ObjectKey::new(Kind::Pod, &pod.namespace, &pod.name), None);
    };
    let key = ObjectKey::new(o.kind.clone(), &pod.namespace, &o.name);
    let Some(parent_kind) = kinds::find(&o.kind).and_then(|k| k.parent.as_ref()) else {
        return missing_check(live, key);
    };
    match live.owners.get(&key) {
        None => missing_check(live, key),
        Some(owner) => match &owner.owner {
            Some(p) if p.kind == *parent_kind => missing_check(
                live,
                ObjectKey::new(p.kind.clone(), &pod.namespace, &p.name),
            ),
            Some(p) => (
                key.clone(),
                Some(format!(
                    "{key} is owned by {} {}, a kind this tool does not restart",
                    p.kind, p.name
                )),
            ),
            None => (key, None),
        },
    }
}

fn missing_check(live: &LiveState, key: ObjectKey) -> (ObjectKey, Option<String>) {
    if matches!(key.kind, Kind::Other(_)) {
        let m = format!("{} is not a kind this tool can restart", key.kind);
        return (key, Some(m));
    }
    if live.owners.contains_key(&key) {
        (key, None)
    } else {
        let m = format!("{key} is not in the live state");
        (key, Some(m))
    }
}

pub(super) fn entries(
    live: &LiveState,
    targets: &Targets,
    gateway: Vec<Finding>,
    gateway_signature: String,
    control_plane_ready: bool,
    opts: &super::Options,
    notices: &mut Vec<String>,
) -> (Vec<Entry>, usize, usize) {
    let ctx = Ctx {
        live,
        targets,
        gateway_signature,
        control_plane_ready,
        opts,
        newest_rs: newest_replica_sets(live),
    };
    let mut groups: BTreeMap<ObjectKey, Group> = BTreeMap::new();
    let gateway_key = ObjectKey::new(
        Kind::Deployment,
        super::gateway::GATEWAY_NAMESPACE,
        super::gateway::GATEWAY_NAME,
    );
    // The rules read only a pod's namespace, proxy, annotations, labels and injection: pods that
    // share them (the live state shares them between the pods of a workload) share one result.
    type Shape = (
        *const str,
        *const Proxy,
        *const Annotations,
        *const Labels,
        bool,
    );
    let mut checked: HashMap<Shape, Findings> = HashMap::new();
    // Every pod of an owner resolves to the same workload.
    let mut resolved: HashMap<(&str, &Kind, &str), (ObjectKey, Option<String>)> = HashMap::new();
    for pod in &live.pods {
        let findings = match &pod.proxy {
            None => Findings::default(),
            Some(proxy) => checked
                .entry((
                    Arc::as_ptr(&pod.namespace),
                    Arc::as_ptr(proxy),
                    Arc::as_ptr(&pod.annotations),
                    Arc::as_ptr(&pod.labels),
                    pod.injected,
                ))
                .or_insert_with(|| Rc::new(check_pod(pod, targets)))
                .clone(),
        };
        let (key, missing) = match &pod.owner {
            Some(o) => resolved
                .entry((&*pod.namespace, &o.kind, &*o.name))
                .or_insert_with(|| resolve(live, pod))
                .clone(),
            None => resolve(live, pod),
        };
        let gateway_pod = key == gateway_key && !gateway.is_empty();
        let sidecar =
            pod.proxy.is_some() && (pod.injected || targets.uninstall) && !rules::is_gateway(pod);
        if !sidecar && !gateway_pod {
            continue;
        }
        // Pods without findings stay in the group: a rollout in progress is judged by its newest pods.
        let g = groups.entry(key).or_default();
        g.missing = missing;
        g.pods.push((pod, findings));
    }
    if !gateway.is_empty() {
        if live.owners.contains_key(&gateway_key) {
            let g = groups.entry(gateway_key.clone()).or_default();
            if g.pods.is_empty() {
                notices.push(format!("{gateway_key} has no running pods to restart"));
            }
            for (_, f) in g.pods.iter_mut() {
                Rc::make_mut(f).extend(gateway.iter().cloned());
            }
        } else {
            notices.push(format!(
                "the ingress gateway settings change but {gateway_key} is not in the live state"
            ));
        }
    }
    let (mut planned, mut in_sync, mut left_out) = (Vec::new(), 0, 0);
    for (key, group) in groups {
        if out_of_scope(&ctx, &key, live.owners.get(&key), &group.pods) {
            left_out += 1;
        } else if let Some(e) = decide(&ctx, key, group) {
            planned.push(e);
        } else {
            in_sync += 1;
        }
    }
    (planned, in_sync, left_out)
}

/// `--exclude` matching: `*` matches any run of characters (`/` included), `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    WildMatch::new(pattern).matches(text)
}

/// Why the user's scope leaves the workload out: `--namespace`, `--namespace-selector`,
/// `--selector` (the owner's labels; a bare pod's own), `--exclude`.
/// Whether `--namespace`, `--namespace-selector` or `--selector` leave the workload out of the
/// plan: like `kubectl get -n/-l`, what is not selected is not listed at all (a namespace not in
/// the live state matches no namespace selector).
fn out_of_scope(
    ctx: &Ctx,
    key: &ObjectKey,
    owner: Option<&Owner>,
    pods: &[(&Pod, Findings)],
) -> bool {
    let opts = ctx.opts;
    if !opts.namespaces.is_empty() && !opts.namespaces.iter().any(|n| n == &key.namespace) {
        return true;
    }
    if let Some(f) = &opts.namespace_selector
        && !ctx
            .live
            .namespaces
            .get(&key.namespace)
            .is_some_and(|labels| f.selector.matches(labels))
    {
        return true;
    }
    if let Some(f) = &opts.selector {
        let labels = match (owner, &key.kind) {
            (Some(o), _) => Some(&o.labels),
            (None, Kind::Pod) => pods.first().map(|(p, _)| &*p.labels),
            (None, _) => None,
        };
        if !labels.is_some_and(|l| f.selector.matches(l)) {
            return true;
        }
    }
    false
}

/// `--exclude`: the workload is listed, as a skip.
fn excluded(opts: &super::Options, key: &ObjectKey) -> Option<String> {
    let short = format!("{}/{}", key.namespace, key.name);
    let long = format!("{}/{}/{}", key.kind, key.namespace, key.name);
    opts.exclude
        .iter()
        .find(|p| glob(p, &short) || glob(p, &long))
        .map(|p| format!("excluded by --exclude {p}"))
}

fn is_kyma(key: &ObjectKey, owner: Option<&Owner>, pods: &[(&Pod, Findings)]) -> bool {
    key.namespace == KYMA_NAMESPACE
        || owner.is_some_and(|o| o.labels.contains_key(KYMA_MODULE_LABEL))
        || pods
            .iter()
            .any(|(p, _)| p.labels.contains_key(KYMA_MODULE_LABEL))
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Pods of a Deployment's newest ReplicaSet, or of a StatefulSet's update revision.
fn newest_revision<'a>(
    ctx: &Ctx,
    key: &ObjectKey,
    owner: &Owner,
    pods: &[(&'a Pod, Findings)],
) -> Option<Vec<(&'a Pod, Findings)>> {
    let newest: Box<dyn Fn(&Pod) -> bool> = match &owner.spec {
        OwnerSpec::Deployment { .. } => {
            let rs = ctx
                .newest_rs
                .get(&(key.namespace.as_str(), key.name.as_str()))?
                .to_string();
            Box::new(move |p: &Pod| p.owner.as_ref().is_some_and(|o| *o.name == *rs))
        }
        OwnerSpec::StatefulSet { status, .. } => {
            let rev = status.update_revision.clone()?;
            Box::new(move |p: &Pod| p.labels.get("controller-revision-hash") == Some(&rev))
        }
        _ => return None,
    };
    Some(pods.iter().filter(|(p, _)| newest(p)).cloned().collect())
}

fn decide(ctx: &Ctx, key: ObjectKey, group: Group) -> Option<Entry> {
    let owner = ctx.live.owners.get(&key);
    let mut pods = group.pods;
    let mut warnings = Vec::new();
    let action;
    let note;

    let rollout = owner.map(|o| rollout_state(&o.spec));
    let in_progress = matches!(rollout, Some(RolloutState::InProgress(_)));
    if let (true, Some(o)) = (in_progress, owner) {
        // Only the newest revision counts: older pods are being replaced anyway.
        if let Some(newest) = newest_revision(ctx, &key, o, &pods)
            && !newest.is_empty()
        {
            pods = newest;
        }
    }
    pods.retain(|(_, f)| !f.is_empty());
    if pods.is_empty() {
        return None;
    }

    let skip_reason = excluded(ctx.opts, &key)
        .or_else(|| {
            let annotation = owner.and_then(|o| o.skip).or_else(|| {
                pods.iter()
                    .find_map(|(p, _)| crate::live::opted_out(|k| p.annotations.get(k)))
            });
            annotation.map(|a| format!("opted out with the annotation {a}: \"true\""))
        })
        .or_else(|| {
            // Uninstall removes every sidecar, custom images included.
            (!ctx.targets.uninstall
                && pods
                    .iter()
                    .any(|(p, _)| p.annotations.contains_key(PROXY_IMAGE_ANNOTATION)))
                .then(|| format!("custom proxy image ({PROXY_IMAGE_ANNOTATION}): never restarted, update the image by hand"))
        });

    let replicas_unavailable = |n: i32| n == 1;
    if let Some(s) = skip_reason {
        action = Action::Skip;
        note = s;
    } else if let Some(m) = &group.missing {
        action = Action::Manual;
        note = format!("{m}: restart its pods by hand");
    } else {
        match owner.map(|o| &o.spec) {
            Some(OwnerSpec::Deployment {
                paused,
                replicas,
                recreate,
                max_surge,
                ..
            }) => {
                if *paused {
                    action = Action::Blocked;
                    note = "the Deployment is paused: resume it (kubectl rollout resume) and plan again, or restart it by hand".into();
                } else {
                    (action, note) = rolling(&rollout);
                    if *recreate {
                        warnings.push(format!(
                            "strategy Recreate: all {} go down before new ones start",
                            plural(*replicas as usize, "pod")
                        ));
                    } else if replicas_unavailable(*replicas)
                        && surge(max_surge.as_ref(), *replicas) == 0
                    {
                        warnings
                            .push("1 replica and maxSurge 0: unavailable while it restarts".into());
                    }
                }
            }
            Some(OwnerSpec::StatefulSet {
                replicas,
                on_delete,
                partition,
                ..
            }) => {
                if *on_delete {
                    action = Action::Evict;
                    note = "updateStrategy OnDelete: pods change only when deleted, so apply evicts them one at a time (PodDisruptionBudgets honoured)".into();
                } else if *partition > 0 {
                    action = Action::Blocked;
                    note = format!(
                        "RollingUpdate partition {partition}: pods below ordinal {partition} would keep the old sidecar; lower the partition or restart them by hand"
                    );
                } else {
                    (action, note) = rolling(&rollout);
                }
                if replicas_unavailable(*replicas) {
                    warnings.push("1 replica: unavailable while its pod restarts".into());
                }
            }
            Some(OwnerSpec::DaemonSet { on_delete, .. }) => {
                if *on_delete {
                    action = Action::Evict;
                    note = "updateStrategy OnDelete: pods change only when deleted, so apply evicts them one at a time (PodDisruptionBudgets honoured)".into();
                } else {
                    (action, note) = rolling(&rollout);
                }
            }
            Some(OwnerSpec::ReplicaSet { replicas, .. })
            | Some(OwnerSpec::ReplicationController { replicas }) => {
                action = Action::Evict;
                note = format!(
                    "a {} without a rolling update: apply evicts its pods one at a time and the controller replaces them (PodDisruptionBudgets honoured)",
                    key.kind
                );
                if replicas_unavailable(*replicas) {
                    warnings.push("1 replica: unavailable between eviction and replacement".into());
                }
            }
            Some(OwnerSpec::Job) => {
                action = Action::Manual;
                note = "a Job cannot be restarted: let it finish, or delete its pods if the Job retries them; new pods get the new sidecar".into();
            }
            Some(OwnerSpec::CronJob) => {
                action = Action::Manual;
                note = "Jobs of a CronJob cannot be restarted: the next scheduled run gets the new sidecar; delete running Job pods by hand if they must not wait".into();
            }
            None => {
                action = Action::Manual;
                note = "a pod without a controller cannot be restarted: recreate it (kubectl replace --force -f <manifest>) to inject the new sidecar".into();
            }
        }
    }

    if let (Action::Restart, Some(RolloutState::Unready(why))) = (action, &rollout) {
        warnings.push(format!(
            "not every pod is ready ({why}) and no rollout is under way: the restart replaces the unready pods too, and waits for the new ones to become ready"
        ));
    }
    let findings: Vec<&Finding> = pods.iter().flat_map(|(_, f)| f.iter()).collect();
    let reasons: Vec<Reason> = findings
        .iter()
        .map(|f| f.reason)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let (action, note) = match super::settings::other_cr_verdict(ctx.targets, &reasons) {
        Some(Ok(blocked)) if action != Action::Skip => (Action::Blocked, blocked),
        Some(Err(w)) if action != Action::Skip => {
            warnings.push(w);
            (action, note)
        }
        _ => (action, note),
    };
    if matches!(action, Action::Skip | Action::Manual | Action::Blocked) {
        warnings.extend(super::versions::stays_behind(
            ctx.targets.istio,
            pods.iter().map(|(p, _)| *p),
        ));
    }
    let total = pods.len();
    let mut counts: BTreeMap<&Finding, usize> = BTreeMap::new();
    for (_, fs) in &pods {
        for f in fs.iter().collect::<BTreeSet<_>>() {
            *counts.entry(f).or_default() += 1;
        }
    }
    let details = counts
        .into_iter()
        .map(|(f, n)| match (n, total) {
            (_, 1) => f.detail.clone(),
            (n, t) if n == t => format!("{} (all {t} pods)", f.detail),
            (n, t) => format!("{} ({n} of {t} pods)", f.detail),
        })
        .collect();

    if matches!(action, Action::Restart | Action::Evict | Action::Wait) {
        if pods.iter().any(|(p, _)| p.restart_policy_never) {
            warnings.push("restartPolicy: Never: a pod can end up permanently broken when its sidecar restarts (istio/istio#49210)".into());
        }
        if !pods.iter().any(|(p, _)| p.has_readiness_probe) {
            warnings
                .push("no readiness probe: new pods count as available before they serve".into());
        }
        if action == Action::Evict {
            for pdb in &ctx.live.pdbs {
                if pdb.disruptions_allowed == 0 && pods.iter().any(|(p, _)| pdb.covers(p)) {
                    warnings.push(format!(
                        "PodDisruptionBudget {}/{} allows no disruption now: evictions wait for it",
                        pdb.namespace, pdb.name
                    ));
                }
            }
        }
        if operator_deletes_pods(&key.kind, &reasons) {
            warnings.push(OPERATOR_DELETES.into());
        }
        if !ctx.control_plane_ready
            && reasons.contains(&Reason::IstioVersion)
            && let Some(t) = ctx.targets.istio
        {
            warnings.push(format!("waits until the control plane runs Istio {t}"));
        }
        if !ctx.control_plane_ready && reasons.contains(&Reason::Uninstall) {
            warnings.push("waits until Istio is uninstalled".into());
        }
    }
    if action == Action::Manual && pods.iter().any(|(p, _)| p.restart_policy_never) {
        warnings.push("restartPolicy: Never: a pod can end up permanently broken when its sidecar restarts (istio/istio#49210)".into());
    }

    let note = if action == Action::Restart && reasons == [Reason::IngressGatewayConfig] {
        "rolling restart once the operator has applied the new gateway settings (the Istio CR change)".to_string()
    } else {
        note
    };
    let mut template_annotations = BTreeMap::new();
    if action == Action::Restart {
        template_annotations.insert(
            RESTARTED_FOR_ANNOTATION.to_string(),
            restarted_for(ctx, &reasons),
        );
        template_annotations.insert(
            RESTARTED_AT_ANNOTATION.to_string(),
            "<time of apply>".to_string(),
        );
    }
    let mut pod_names: Vec<String> = pods.iter().map(|(p, _)| p.name.clone()).collect();
    pod_names.sort();
    Some(Entry {
        kind: key.kind.clone(),
        kyma: is_kyma(&key, owner, &pods),
        namespace: key.namespace,
        name: key.name,
        action,
        reasons,
        details,
        note,
        pods: pod_names,
        warnings,
        template_annotations_before: if template_annotations.is_empty() {
            BTreeMap::new()
        } else {
            owner
                .map(|o| o.template_annotations.clone())
                .unwrap_or_default()
        },
        template_annotations,
        seen: owner.map(|o| o.seen.clone()),
    })
}

/// The warning on ownerless ReplicaSets and ReplicationControllers that the operator restarts.
pub const OPERATOR_DELETES: &str = "the Kyma operator restarts these pods itself by deleting them (a plain delete, not the Eviction API): PodDisruptionBudgets do not hold it back, and this tool cannot prevent it";

/// Whether the Kyma operator's sidecar restarter deletes this workload's pods itself: a
/// ReplicaSet without owner (one with a Deployment is planned as the Deployment) or a
/// ReplicationController, for a reason the operator restarts for (its rules compare images,
/// resources, the Prometheus annotations and, edge-triggered, the proxy settings).
fn operator_deletes_pods(kind: &Kind, reasons: &[Reason]) -> bool {
    matches!(kind, Kind::ReplicaSet | Kind::ReplicationController)
        && reasons.iter().any(|r| {
            matches!(
                r,
                Reason::IstioVersion
                    | Reason::ImageRebuild
                    | Reason::PrometheusMerge
                    | Reason::ProxyResources
                    | Reason::CompatibilityMode
                    | Reason::DnsProxying
                    | Reason::ProxyStatsMatcher
            )
        })
}

fn rolling(rollout: &Option<RolloutState>) -> (Action, String) {
    match rollout {
        Some(RolloutState::InProgress(why)) => (
            Action::Wait,
            format!(
                "a rollout is already under way ({why}): apply waits for it and checks the new pods again, never restarting on top"
            ),
        ),
        // Pods that are not ready while no rollout is under way: waiting changes nothing.
        Some(RolloutState::Unready(_)) => (
            Action::Restart,
            "rolling restart through the pod template".into(),
        ),
        Some(RolloutState::Failed(why)) => (
            Action::Blocked,
            format!("its last rollout failed ({why}): fix the workload first, then plan again"),
        ),
        _ => (
            Action::Restart,
            "rolling restart through the pod template".into(),
        ),
    }
}

/// maxSurge resolved against the replica count (percentages round up), default 25%.
fn surge(max_surge: Option<&IntOrString>, replicas: i32) -> i32 {
    match max_surge {
        Some(IntOrString::Int(i)) => *i,
        Some(IntOrString::String(s)) => {
            match s.strip_suffix('%').and_then(|p| p.parse::<i32>().ok()) {
                Some(p) => (p * replicas + 99) / 100,
                None => 1,
            }
        }
        None => (25 * replicas + 99) / 100,
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

/// FNV-1a, 64 bits: a short, stable fingerprint of a target too long for an annotation value.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// What a restart is for: the target of every reason. Written to the pod template by apply.
fn restarted_for(ctx: &Ctx, reasons: &[Reason]) -> String {
    let t = ctx.targets;
    reasons
        .iter()
        .map(|r| match r {
            Reason::IstioVersion => format!(
                "istio-version={}",
                t.istio.map(|v| v.to_string()).unwrap_or_default()
            ),
            Reason::ImageRebuild => format!(
                "image-rebuild={}",
                t.proxy_image
                    .as_deref()
                    .and_then(|i| crate::istio::ImageRef::parse(i).tag)
                    .unwrap_or_default()
            ),
            Reason::PrometheusMerge => format!("prometheus-merge={}", on_off(t.prometheus_merge)),
            Reason::CompatibilityMode => {
                format!("compatibility-mode={}", on_off(t.compatibility_mode))
            }
            Reason::DnsProxying => {
                format!("dns-proxying={}", on_off(t.dns_proxying))
            }
            Reason::ProxyResources => {
                format!("proxy-resources={}", t.proxy_resources.signature())
            }
            Reason::ProxyStatsMatcher => format!(
                "proxy-stats-matcher={:016x}",
                fnv1a(t.proxy_stats_matcher.join("\n").as_bytes())
            ),
            Reason::IngressGatewayConfig => {
                format!("ingress-gateway-config={}", ctx.gateway_signature)
            }
            Reason::Cni => format!("cni={}", on_off(t.features.cni)),
            Reason::Ambient => {
                format!("ambient={}", on_off(t.features.ambient.unwrap_or_default()))
            }
            Reason::DualStack => format!("dual-stack={}", on_off(t.features.dual_stack)),
            Reason::Uninstall => "uninstall".into(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globbing() {
        assert!(glob("shop/*", "shop/cart"));
        assert!(glob("*/cart", "shop/cart"));
        assert!(glob("Deployment/shop/*", "Deployment/shop/cart"));
        assert!(!glob("shop/*", "shopping/cart"));
        assert!(glob("*", "anything"));
        assert!(glob("shop/web-*-canary", "shop/web-v2-canary"));
        assert!(!glob("shop/web", "shop/web-1"));
        assert!(glob("*/cart", "Deployment/shop/cart"));
    }

    #[test]
    fn surge_resolution() {
        assert_eq!(surge(None, 1), 1);
        assert_eq!(surge(Some(&IntOrString::Int(0)), 1), 0);
        assert_eq!(surge(Some(&IntOrString::String("0%".into())), 1), 0);
        assert_eq!(surge(Some(&IntOrString::String("10%".into())), 1), 1);
    }
}
