//! The pre-sync gate (`--fail-on`): which conditions a plan meets, for which workloads, and what
//! fails the run.

use super::*;
use crate::plan::gate::{Condition, FailOn, Gate, Override, judge};

fn old(p: PodB) -> PodB {
    p.version("1.29.3")
}

/// Deployment `ns/web` of `replicas` with this `spec.strategy`, its ReplicaSet, one old pod.
fn web_with(replicas: i64, strategy: Value) -> Vec<Value> {
    let mut d = deployment("ns", "web", replicas);
    d["spec"]["strategy"] = strategy;
    vec![
        d,
        replica_set("ns", "web-1", "web"),
        old(pod("ns", "web-1-a").owner("ReplicaSet", "web-1")).build(),
    ]
}

fn rolling(surge: Value, unavailable: Value) -> Value {
    let mut r = serde_json::Map::new();
    if !surge.is_null() {
        r.insert("maxSurge".into(), surge);
    }
    if !unavailable.is_null() {
        r.insert("maxUnavailable".into(), unavailable);
    }
    json!({"type": "RollingUpdate", "rollingUpdate": r})
}

/// StatefulSet `ns/db` of `replicas` old pods (label `app: db`).
fn db(replicas: i64, strategy: &str) -> Vec<Value> {
    let mut v = vec![json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "ns", "generation": 1},
        "spec": {"replicas": replicas, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "updateStrategy": {"type": strategy}, "template": {"metadata": {}, "spec": {"containers": []}}},
        "status": {"observedGeneration": 1, "replicas": replicas, "readyReplicas": replicas,
                   "updatedReplicas": replicas, "updateRevision": "db-1", "currentRevision": "db-1"}})];
    for i in 0..replicas {
        v.push(
            old(pod("ns", &format!("db-{i}")).owner("StatefulSet", "db"))
                .label("app", "db")
                .build(),
        );
    }
    v
}

fn pdb(selector_app: &str) -> Value {
    json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
           "metadata": {"name": "db", "namespace": "ns"},
           "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": selector_app}}},
           "status": {"disruptionsAllowed": 1}})
}

fn ownerless_rs(replicas: i64) -> Vec<Value> {
    let mut v = vec![json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "legacy", "namespace": "ns"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "legacy"}}}})];
    for i in 0..replicas {
        v.push(old(pod("ns", &format!("legacy-{i}")).owner("ReplicaSet", "legacy")).build());
    }
    v
}

fn agent() -> Vec<Value> {
    vec![
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
               "metadata": {"name": "agent", "namespace": "ns", "generation": 1},
               "spec": {"selector": {"matchLabels": {"app": "agent"}}, "updateStrategy": {"type": "RollingUpdate"},
                        "template": {"metadata": {}, "spec": {"containers": []}}},
               "status": {"observedGeneration": 1, "desiredNumberScheduled": 1, "currentNumberScheduled": 1,
                          "updatedNumberScheduled": 1, "numberAvailable": 1, "numberReady": 1, "numberMisscheduled": 0}}),
        old(pod("ns", "agent-x").owner("DaemonSet", "agent")).build(),
    ]
}

/// Plans `objects` against git's `spec: {}` on Istio 1.30.2 (control plane already on it) and
/// judges the plan.
fn gate_of(mut objects: Vec<Value>, fail_on: &[&str], overridden: Option<Override>) -> Gate {
    let d = desired(json!({}), T);
    objects.extend(control_plane(T));
    objects.push(serde_json::to_value(d.istio.as_ref().unwrap()).unwrap());
    let live = live(objects);
    let p = plan(&d, &live, &Options::default());
    judge(&p, &live, &FailOn::parse(fail_on).unwrap(), overridden)
}

/// `(kind/namespace/name, why)` of the workloads a condition names.
fn hits(g: &Gate, c: Condition) -> Vec<String> {
    g.found
        .iter()
        .filter(|f| f.condition == c)
        .flat_map(|f| &f.workloads)
        .map(|h| format!("{} {}/{}: {}", h.kind, h.namespace, h.name, h.why))
        .collect()
}

#[test]
fn unavailable_names_workloads_that_go_down_while_they_restart() {
    let int = |i: i64| json!(i);
    let s = |p: &str| json!(p);
    // (case, objects, the `unavailable` reason expected for its one workload, or None)
    let cases: Vec<(&str, Vec<Value>, Option<&str>)> = vec![
        (
            "1 replica, default strategy: surges",
            web_with(1, json!(null)),
            None,
        ),
        (
            "1 replica, RollingUpdate defaults",
            web_with(1, rolling(Value::Null, Value::Null)),
            None,
        ),
        (
            "1 replica, maxSurge 0",
            web_with(1, rolling(int(0), Value::Null)),
            Some(
                "Deployment ns/web: 1 replica, maxSurge 0 and maxUnavailable 1: no pod has to stay available while it restarts",
            ),
        ),
        (
            "1 replica, maxSurge 0%",
            web_with(1, rolling(s("0%"), s("25%"))),
            Some(
                "Deployment ns/web: 1 replica, maxSurge 0 and maxUnavailable 1: no pod has to stay available while it restarts",
            ),
        ),
        (
            "1 replica, maxUnavailable 1 (it may go before the new one is ready)",
            web_with(1, rolling(int(1), int(1))),
            Some(
                "Deployment ns/web: 1 replica, maxSurge 1 and maxUnavailable 1: no pod has to stay available while it restarts",
            ),
        ),
        (
            "1 replica, maxUnavailable 50% rounds down to 0",
            web_with(1, rolling(int(1), s("50%"))),
            None,
        ),
        (
            "3 replicas, maxSurge 0, maxUnavailable 1",
            web_with(3, rolling(int(0), int(1))),
            None,
        ),
        (
            "2 replicas, maxUnavailable 100%",
            web_with(2, rolling(int(0), s("100%"))),
            Some(
                "Deployment ns/web: 2 replicas, maxSurge 0 and maxUnavailable 2: no pod has to stay available while it restarts",
            ),
        ),
        (
            "Recreate",
            web_with(3, json!({"type": "Recreate"})),
            Some("Deployment ns/web: strategy Recreate: all 3 pods go down before new ones start"),
        ),
        (
            "StatefulSet, 1 replica, RollingUpdate",
            db(1, "RollingUpdate"),
            Some("StatefulSet ns/db: 1 replica: unavailable while its pod is replaced"),
        ),
        (
            "StatefulSet, 1 replica, OnDelete",
            db(1, "OnDelete"),
            Some(
                "StatefulSet ns/db: 1 replica: unavailable between its eviction and its replacement",
            ),
        ),
        (
            "StatefulSet, 3 replicas, RollingUpdate: one at a time",
            db(3, "RollingUpdate"),
            None,
        ),
        (
            "StatefulSet, 3 replicas, OnDelete, no PodDisruptionBudget",
            db(3, "OnDelete"),
            Some(
                "StatefulSet ns/db: updateStrategy OnDelete, 3 pods evicted and no PodDisruptionBudget covers them: nothing limits how many are gone at once",
            ),
        ),
        (
            "StatefulSet, 3 replicas, OnDelete, a PodDisruptionBudget covers them",
            [db(3, "OnDelete"), vec![pdb("db")]].concat(),
            None,
        ),
        (
            "StatefulSet, 3 replicas, OnDelete, a PodDisruptionBudget of other pods",
            [db(3, "OnDelete"), vec![pdb("other")]].concat(),
            Some(
                "StatefulSet ns/db: updateStrategy OnDelete, 3 pods evicted and no PodDisruptionBudget covers them: nothing limits how many are gone at once",
            ),
        ),
        (
            "ReplicaSet without a Deployment: the operator deletes its pods",
            ownerless_rs(3),
            Some(
                "ReplicaSet ns/legacy: a ReplicaSet without a rolling update (3 replicas): the operator deletes its pods directly, all in one reconcile (no Eviction API, no PodDisruptionBudget)",
            ),
        ),
        ("DaemonSet, RollingUpdate: node by node", agent(), None),
        (
            "a bare pod: manual, not restarted",
            vec![old(pod("ns", "debug")).build()],
            None,
        ),
        (
            "in sync: nothing restarts",
            {
                let mut v = web_with(1, rolling(int(0), Value::Null));
                v[2] = pod("ns", "web-1-a").owner("ReplicaSet", "web-1").build();
                v
            },
            None,
        ),
    ];
    for (case, objects, want) in cases {
        let g = gate_of(objects, &["unavailable"], None);
        let got = hits(&g, Condition::Unavailable);
        assert_eq!(
            got,
            want.into_iter().map(String::from).collect::<Vec<_>>(),
            "{case}"
        );
        assert_eq!(g.refused, want.is_some(), "{case}: refused");
        assert_eq!(
            g.tripped,
            if want.is_some() {
                vec![Condition::Unavailable]
            } else {
                vec![]
            },
            "{case}: tripped"
        );
    }
}

#[test]
fn each_condition_trips_only_when_named() {
    let paused = {
        let mut v = web_with(2, json!(null));
        v[0]["spec"]["paused"] = json!(true);
        v
    };
    let bare = vec![old(pod("ns", "debug")).build()];
    let skewed = {
        let mut v = web_with(3, json!(null));
        v[2] = pod("ns", "web-1-a")
            .owner("ReplicaSet", "web-1")
            .version("1.28.5")
            .build();
        v
    };
    let restart = web_with(3, json!(null));
    // (case, objects, --fail-on, conditions found, conditions tripped)
    use Condition::*;
    type Case = (
        &'static str,
        Vec<Value>,
        &'static [&'static str],
        Vec<Condition>,
        Vec<Condition>,
    );
    let cases: Vec<Case> = vec![
        (
            "a restart, pending",
            restart.clone(),
            &["pending"],
            vec![Pending],
            vec![Pending],
        ),
        (
            "a restart, not asked for",
            restart.clone(),
            &["manual,blocked"],
            vec![Pending],
            vec![],
        ),
        (
            "a restart, none",
            restart.clone(),
            &["none"],
            vec![Pending],
            vec![],
        ),
        (
            "a bare pod, manual",
            bare.clone(),
            &["manual"],
            vec![Pending, Manual],
            vec![Manual],
        ),
        (
            "a bare pod, blocked only",
            bare.clone(),
            &["blocked"],
            vec![Pending, Manual],
            vec![],
        ),
        (
            "a bare pod, any",
            bare.clone(),
            &["any"],
            vec![Pending, Manual],
            vec![Pending, Manual],
        ),
        (
            "paused, blocked",
            paused.clone(),
            &["unavailable", "blocked"],
            vec![Pending, Blocked],
            vec![Blocked],
        ),
        (
            "skew",
            skewed.clone(),
            &["skew"],
            vec![Pending, Skew],
            vec![Skew],
        ),
        (
            "skew, not asked for",
            skewed,
            &["pending"],
            vec![Pending, Skew],
            vec![Pending],
        ),
        ("nothing", vec![], &["any"], vec![], vec![]),
    ];
    for (case, objects, fail_on, found, tripped) in cases {
        let g = gate_of(objects, fail_on, None);
        let got: Vec<Condition> = g.found.iter().map(|f| f.condition).collect();
        assert_eq!(got, found, "{case}: found {:?}", g.found);
        assert_eq!(g.tripped, tripped, "{case}: tripped");
        assert_eq!(g.refused, !tripped.is_empty(), "{case}: refused");
        assert!(
            g.found
                .iter()
                .all(|f| f.fails == tripped.contains(&f.condition)),
            "{case}: fails"
        );
    }
}

#[test]
fn what_each_condition_says() {
    let bare = vec![old(pod("ns", "debug")).build()];
    let g = gate_of(bare, &["manual"], None);
    let manual = hits(&g, Condition::Manual);
    assert_eq!(manual.len(), 1);
    assert!(
        manual[0].starts_with("Pod ns/debug: a pod without a controller cannot be restarted"),
        "{manual:?}"
    );
    assert_eq!(hits(&g, Condition::Pending), ["Pod ns/debug: manual"]);
    assert_eq!(
        g.headline(),
        "gate refused (--fail-on manual): manual tripped"
    );

    let g = gate_of(
        vec![pod("ns", "ancient").version("1.28.5").build()],
        &["skew"],
        None,
    );
    assert_eq!(
        hits(&g, Condition::Skew),
        [
            "Pod ns/ancient: runs Istio 1.28.5: out of support under Istio 1.30.2 and nothing restarts it"
        ]
    );
    let skew = g
        .found
        .iter()
        .find(|f| f.condition == Condition::Skew)
        .unwrap();
    assert_eq!(skew.details.len(), 1, "the plan's skew error");
    assert!(skew.details[0].contains("two or more minor versions behind"));
}

#[test]
fn an_override_lets_it_pass_and_is_recorded() {
    let o = Override {
        by: "ISTIO_ROLLOUT_GATE_OVERRIDE".into(),
        reason: "downtime of ns/web accepted (CHG-1)".into(),
    };
    let g = gate_of(
        web_with(1, json!({"type": "Recreate"})),
        &["unavailable"],
        Some(o.clone()),
    );
    assert_eq!(g.tripped, [Condition::Unavailable]);
    assert!(!g.refused);
    assert_eq!(g.overridden, Some(o));
    assert_eq!(
        g.headline(),
        "gate overridden by ISTIO_ROLLOUT_GATE_OVERRIDE: downtime of ns/web accepted (CHG-1) (tripped: unavailable)"
    );
    // Nothing tripped: the override is not recorded, as there was nothing to override.
    let g = gate_of(
        web_with(3, json!(null)),
        &["unavailable"],
        Some(Override {
            by: "x".into(),
            reason: "y".into(),
        }),
    );
    assert_eq!(g.overridden, None);
    assert_eq!(
        g.headline(),
        "gate passed (--fail-on unavailable): no condition tripped"
    );
    assert!(!g.only_pending());
}

#[test]
fn fail_on_values() {
    use Condition::*;
    let set = |v: &[&str]| FailOn::parse(v).map(|f| f.0.into_iter().collect::<Vec<_>>());
    assert_eq!(set(&["unavailable,manual"]), Ok(vec![Unavailable, Manual]));
    assert_eq!(set(&["manual", "skew", "manual"]), Ok(vec![Manual, Skew]));
    assert_eq!(set(&[" blocked , pending "]), Ok(vec![Pending, Blocked]));
    assert_eq!(set(&["any"]), Ok(Condition::ALL.to_vec()));
    assert_eq!(set(&["none"]), Ok(vec![]));
    assert!(
        set(&["none,manual"])
            .unwrap_err()
            .contains("`none` cannot be combined")
    );
    assert!(
        set(&["unavailabel"])
            .unwrap_err()
            .contains("unknown condition `unavailabel`")
    );
    assert!(set(&["manual,"]).is_err());
    for c in Condition::ALL {
        assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        assert_eq!(set(&[c.as_str()]), Ok(vec![c]));
    }
}
