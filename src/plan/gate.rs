//! The pre-sync gate (`plan --fail-on`): which conditions of a plan make `plan` refuse, and for
//! which workloads. Pure: it reads the plan and the live state it was computed from.
//!
//! Conditions, as the README's "The pre-sync gate" section defines them:
//! - `pending`: the plan has pending work (the default exit 1).
//! - `unavailable`: a workload that has no ready pod for a while when it is restarted, by the
//!   operator or by this tool ([`unavailable`]).
//! - `manual`, `blocked`: entries with that action.
//! - `skew`: sidecars that the target leaves two or more minor versions behind.

use super::versions::{sidecar_version, unsupported_from};
use super::{Action, Entry, Plan};
use crate::live::{Kind, LiveState, OwnerSpec, Pdb, Pod};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// One condition `--fail-on` names. Serialised in kebab-case (`unavailable`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Condition {
    Pending,
    Unavailable,
    Manual,
    Blocked,
    Skew,
}

impl Condition {
    pub const ALL: [Condition; 5] = [
        Condition::Pending,
        Condition::Unavailable,
        Condition::Manual,
        Condition::Blocked,
        Condition::Skew,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Pending => "pending",
            Condition::Unavailable => "unavailable",
            Condition::Manual => "manual",
            Condition::Blocked => "blocked",
            Condition::Skew => "skew",
        }
    }
}

/// The conditions that fail the run; empty: `none`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FailOn(pub BTreeSet<Condition>);

impl FailOn {
    /// Parses the values of `--fail-on` (each comma-separated): the condition names, `any` (all of
    /// them) and `none` (none; not combinable with another value).
    pub fn parse<S: AsRef<str>>(values: &[S]) -> Result<FailOn, String> {
        let mut set = BTreeSet::new();
        let mut none = false;
        let mut others = false;
        for word in values
            .iter()
            .flat_map(|v| v.as_ref().split(','))
            .map(str::trim)
        {
            match word {
                "none" => none = true,
                "any" => {
                    others = true;
                    set.extend(Condition::ALL);
                }
                "" => return Err("an empty condition".into()),
                w => {
                    let c = Condition::ALL
                        .into_iter()
                        .find(|c| c.as_str() == w)
                        .ok_or_else(|| {
                            format!(
                                "unknown condition `{w}` (expected pending, unavailable, manual, blocked, skew, any or none)"
                            )
                        })?;
                    others = true;
                    set.insert(c);
                }
            }
        }
        if none && others {
            return Err("`none` cannot be combined with other conditions".into());
        }
        Ok(FailOn(set))
    }
}

/// Who let the run proceed although conditions tripped, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Override {
    /// Where the override came from (`ISTIO_ROLLOUT_GATE_OVERRIDE`, `--gate-override`).
    pub by: String,
    pub reason: String,
}

/// A workload a condition names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Hit {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    /// Why this workload meets the condition, in words.
    pub why: String,
}

/// One condition that the plan meets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Found {
    pub condition: Condition,
    /// Whether `--fail-on` names it, so that it fails the run.
    pub fails: bool,
    pub workloads: Vec<Hit>,
    /// What is not about one workload (the CR difference, the plan's skew error).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

/// The gate's verdict, in the plan's output (`gate` in JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Gate {
    /// What `--fail-on` named (`[]`: `none`).
    pub fail_on: Vec<Condition>,
    /// Every condition the plan meets, whether it fails the run or not.
    pub found: Vec<Found>,
    /// The conditions that fail the run (found and named by `--fail-on`).
    pub tripped: Vec<Condition>,
    /// Set when conditions tripped and the run proceeds anyway.
    #[serde(rename = "override")]
    pub overridden: Option<Override>,
    /// Tripped and not overridden: the upgrade must not start.
    pub refused: bool,
}

impl Gate {
    /// Only `pending` tripped: the plan's ordinary exit 1, not the gate's own code.
    pub fn only_pending(&self) -> bool {
        self.tripped == [Condition::Pending]
    }

    /// One line for people: what tripped, or that nothing did.
    pub fn headline(&self) -> String {
        let names = |cs: &[Condition]| cs.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ");
        let fail_on = if self.fail_on.is_empty() {
            "none".to_string()
        } else {
            names(&self.fail_on)
        };
        match (&self.overridden, self.tripped.is_empty()) {
            (_, true) => format!("gate passed (--fail-on {fail_on}): no condition tripped"),
            (Some(o), false) => format!(
                "gate overridden by {}: {} (tripped: {})",
                o.by,
                o.reason,
                names(&self.tripped)
            ),
            (None, false) => format!(
                "gate refused (--fail-on {fail_on}): {} tripped",
                names(&self.tripped)
            ),
        }
    }
}

/// Judges the plan against `--fail-on`. `live` is the state the plan was computed from.
pub fn judge(
    plan: &Plan,
    live: &LiveState,
    fail_on: &FailOn,
    overridden: Option<Override>,
) -> Gate {
    let pods: HashMap<(&str, &str), &Pod> = live
        .pods
        .iter()
        .map(|p| ((&*p.namespace, p.name.as_str()), p))
        .collect();
    let pods_of = |e: &Entry| -> Vec<&Pod> {
        e.pods
            .iter()
            .filter_map(|n| pods.get(&(e.namespace.as_str(), n.as_str())).copied())
            .collect()
    };
    let mut found = Vec::new();
    let mut add = |condition: Condition, workloads: Vec<Hit>, details: Vec<String>| {
        if !workloads.is_empty() || !details.is_empty() {
            found.push(Found {
                condition,
                fails: fail_on.0.contains(&condition),
                workloads,
                details,
            });
        }
    };

    // pending
    let hits = plan
        .workloads
        .iter()
        .filter(|e| e.action.is_pending())
        .map(|e| hit(e, e.action.as_str().to_string()))
        .collect();
    let details = if plan.cr.action != super::cr::CrAction::None {
        vec![format!("Istio CR: {}", plan.cr.action.as_str())]
    } else {
        Vec::new()
    };
    add(Condition::Pending, hits, details);

    // unavailable
    let hits = plan
        .workloads
        .iter()
        .filter_map(|e| unavailable(e, live, &pods_of(e)).map(|why| hit(e, why)))
        .collect();
    add(Condition::Unavailable, hits, Vec::new());

    // manual, blocked
    for (condition, action) in [
        (Condition::Manual, Action::Manual),
        (Condition::Blocked, Action::Blocked),
    ] {
        let hits = plan
            .workloads
            .iter()
            .filter(|e| e.action == action)
            .map(|e| hit(e, e.note.clone()))
            .collect();
        add(condition, hits, Vec::new());
    }

    // skew
    let hits = match plan.versions.target.istio {
        Some(target) => plan
            .workloads
            .iter()
            .filter_map(|e| {
                let oldest = pods_of(e)
                    .into_iter()
                    .filter_map(sidecar_version)
                    .filter(|v| target >= unsupported_from(*v))
                    .min()?;
                Some(hit(
                    e,
                    format!(
                        "runs Istio {oldest}: out of support under Istio {target} {}",
                        match e.action {
                            Action::Restart | Action::Evict | Action::Wait => "until it restarts",
                            _ => "and nothing restarts it",
                        }
                    ),
                ))
            })
            .collect(),
        None => Vec::new(),
    };
    add(Condition::Skew, hits, plan.errors.clone());

    let tripped: Vec<Condition> = found
        .iter()
        .filter(|f| f.fails)
        .map(|f| f.condition)
        .collect();
    let overridden = overridden.filter(|_| !tripped.is_empty());
    Gate {
        fail_on: fail_on.0.iter().copied().collect(),
        refused: !tripped.is_empty() && overridden.is_none(),
        found,
        tripped,
        overridden,
    }
}

fn hit(e: &Entry, why: String) -> Hit {
    Hit {
        kind: e.kind.clone(),
        namespace: e.namespace.clone(),
        name: e.name.clone(),
        why,
    }
}

/// Whether a workload has no ready pod for a while when it restarts, and why. Only `restart`
/// and `evict` entries restart (the operator restarts the same workloads, all at once):
/// - a Deployment with strategy `Recreate`;
/// - a RollingUpdate Deployment whose `maxUnavailable` (rounded down; 1 when it and `maxSurge`,
///   rounded up, are both 0) is at least its replica count, e.g. 1 replica with `maxSurge: 0`, or
///   1 replica with `maxUnavailable: 1`: the controller may remove the old pod first;
/// - a StatefulSet with 1 replica (RollingUpdate replaces its pod, OnDelete evicts it);
/// - a ReplicaSet without a Deployment or a ReplicationController: the operator deletes every
///   one of its pods directly, without the Eviction API and PodDisruptionBudgets;
/// - an `OnDelete` StatefulSet or DaemonSet of two or more pods that no PodDisruptionBudget
///   covers: its pods go by eviction, and no budget limits how many are gone at once.
///
/// DaemonSets are otherwise not judged: each pod serves its node, and a rolling update
/// replaces them node by node.
pub fn unavailable(e: &Entry, live: &LiveState, pods: &[&Pod]) -> Option<String> {
    if !matches!(e.action, Action::Restart | Action::Evict) {
        return None;
    }
    let owner = live.owners.get(&e.key())?;
    let replicas = |n: i32| {
        if n == 1 {
            "1 replica".to_string()
        } else {
            format!("{n} replicas")
        }
    };
    match &owner.spec {
        OwnerSpec::Deployment {
            replicas: n,
            recreate: true,
            ..
        } => Some(if *n == 1 {
            "strategy Recreate: its only pod goes down before the new one starts".to_string()
        } else {
            format!("strategy Recreate: all {n} pods go down before new ones start")
        }),
        OwnerSpec::Deployment {
            replicas: n,
            max_surge,
            max_unavailable,
            ..
        } => {
            let surge = resolve(max_surge.as_ref(), *n, 25, true);
            let mut down = resolve(max_unavailable.as_ref(), *n, 25, false);
            if surge == 0 && down == 0 {
                down = 1;
            }
            (*n > 0 && down >= *n).then(|| {
                format!(
                    "{}, maxSurge {surge} and maxUnavailable {down}: no pod has to stay available while it restarts",
                    replicas(*n)
                )
            })
        }
        OwnerSpec::StatefulSet {
            replicas: 1,
            on_delete,
            ..
        } => Some(if *on_delete {
            "1 replica: unavailable between its eviction and its replacement".to_string()
        } else {
            "1 replica: unavailable while its pod is replaced".to_string()
        }),
        OwnerSpec::ReplicaSet { replicas: n, .. }
        | OwnerSpec::ReplicationController { replicas: n } => Some(format!(
            "a {} without a rolling update ({}): the operator deletes its pods directly, all in one reconcile (no Eviction API, no PodDisruptionBudget)",
            e.kind,
            replicas(*n)
        )),
        OwnerSpec::StatefulSet {
            on_delete: true, ..
        }
        | OwnerSpec::DaemonSet {
            on_delete: true, ..
        } if pods.len() >= 2 && !covered(&live.pdbs, pods) => Some(format!(
            "updateStrategy OnDelete, {} pods evicted and no PodDisruptionBudget covers them: nothing limits how many are gone at once",
            pods.len()
        )),
        _ => None,
    }
}

fn covered(pdbs: &[Pdb], pods: &[&Pod]) -> bool {
    pods.iter().any(|p| pdbs.iter().any(|b| b.covers(p)))
}

/// An int-or-percent of `replicas`, as the Deployment controller resolves it: percentages round
/// up for maxSurge and down for maxUnavailable; unset is `default_percent`.
fn resolve(v: Option<&IntOrString>, replicas: i32, default_percent: i32, up: bool) -> i32 {
    let percent = |p: i32| {
        let scaled = i64::from(p) * i64::from(replicas.max(0));
        let r = if up {
            (scaled + 99) / 100
        } else {
            scaled / 100
        };
        i32::try_from(r).unwrap_or(i32::MAX)
    };
    match v {
        Some(IntOrString::Int(i)) => *i,
        Some(IntOrString::String(s)) => match s.strip_suffix('%').and_then(|p| p.parse().ok()) {
            Some(p) => percent(p),
            // The API server rejects anything else; count it as the default.
            None => percent(default_percent),
        },
        None => percent(default_percent),
    }
}
