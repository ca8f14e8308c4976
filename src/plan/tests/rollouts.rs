//! `wait` is for a rollout under way only: unready pods without a rollout are planned.

use super::*;
use crate::plan::Action;

fn old(p: PodB) -> PodB {
    p.version("1.29.3")
}

fn statefulset(status: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
           "metadata": {"name": "db", "namespace": "ns", "generation": 1},
           "spec": {"replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                    "updateStrategy": {"type": "RollingUpdate"},
                    "template": {"metadata": {}, "spec": {"containers": []}}},
           "status": status})
}

fn daemonset(status: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
           "metadata": {"name": "agent", "namespace": "ns", "generation": 1},
           "spec": {"selector": {"matchLabels": {"app": "agent"}}, "updateStrategy": {"type": "RollingUpdate"},
                    "template": {"metadata": {}, "spec": {"containers": []}}},
           "status": status})
}

#[test]
fn unready_pods_without_a_rollout_are_restarted_with_a_warning() {
    // (name, objects, kind, name, action)
    let mut dep_unready = deployment("ns", "web", 3);
    dep_unready["status"]["availableReplicas"] = json!(2);
    dep_unready["status"]["readyReplicas"] = json!(2);
    let mut dep_rolling = deployment("ns", "web", 3);
    dep_rolling["status"]["updatedReplicas"] = json!(1);
    dep_rolling["status"]["replicas"] = json!(4);
    let mut dep_unobserved = deployment("ns", "web", 3);
    dep_unobserved["metadata"]["generation"] = json!(2);
    let web_pod = || old(pod("ns", "web-1-a").owner("ReplicaSet", "web-1")).build();
    let db_pod = || old(pod("ns", "db-0").owner("StatefulSet", "db")).build();
    let agent_pod = || old(pod("ns", "agent-x").owner("DaemonSet", "agent")).build();
    let sts = |ready: i64, updated: i64| {
        statefulset(
            json!({"observedGeneration": 1, "replicas": 3, "readyReplicas": ready,
                           "updatedReplicas": updated, "updateRevision": "db-1", "currentRevision": "db-1"}),
        )
    };
    let ds = |available: i64, updated: i64| {
        daemonset(
            json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "currentNumberScheduled": 3,
                         "updatedNumberScheduled": updated, "numberAvailable": available, "numberReady": available,
                         "numberMisscheduled": 0}),
        )
    };
    type Case = (
        &'static str,
        Vec<Value>,
        &'static str,
        &'static str,
        Action,
        bool,
    );
    let cases: Vec<Case> = vec![
        (
            "Deployment, one pod unready",
            vec![dep_unready, replica_set("ns", "web-1", "web"), web_pod()],
            "Deployment",
            "web",
            Action::Restart,
            true,
        ),
        (
            "Deployment, rolling",
            vec![dep_rolling, replica_set("ns", "web-1", "web"), web_pod()],
            "Deployment",
            "web",
            Action::Wait,
            false,
        ),
        (
            "Deployment, not observed yet",
            vec![dep_unobserved, replica_set("ns", "web-1", "web"), web_pod()],
            "Deployment",
            "web",
            Action::Wait,
            false,
        ),
        (
            "StatefulSet, one pod unready",
            vec![sts(2, 3), db_pod()],
            "StatefulSet",
            "db",
            Action::Restart,
            true,
        ),
        (
            "StatefulSet, updating",
            vec![sts(3, 1), db_pod()],
            "StatefulSet",
            "db",
            Action::Wait,
            false,
        ),
        (
            "StatefulSet, updating and unready",
            vec![sts(2, 1), db_pod()],
            "StatefulSet",
            "db",
            Action::Wait,
            false,
        ),
        (
            "DaemonSet, one pod unavailable",
            vec![ds(2, 3), agent_pod()],
            "DaemonSet",
            "agent",
            Action::Restart,
            true,
        ),
        (
            "DaemonSet, updating",
            vec![ds(3, 2), agent_pod()],
            "DaemonSet",
            "agent",
            Action::Wait,
            false,
        ),
    ];
    for (name, objects, kind, wl, action, warned) in cases {
        let p = run(json!({}), objects);
        let e = find(&p, kind, "ns", wl).unwrap_or_else(|| panic!("{name}: {:?}", p.workloads));
        assert_eq!(e.action, action, "{name}: {}", e.note);
        let has = e
            .warnings
            .iter()
            .any(|w| w.contains("no rollout is under way"));
        assert_eq!(has, warned, "{name}: {:?}", e.warnings);
        assert_eq!(
            e.template_annotations.is_empty(),
            action != Action::Restart,
            "{name}"
        );
    }
}

#[test]
fn unready_pods_on_the_target_are_not_planned() {
    let mut d = deployment("ns", "web", 3);
    d["status"]["availableReplicas"] = json!(1);
    let p = run(
        json!({}),
        vec![
            d,
            replica_set("ns", "web-1", "web"),
            pod("ns", "web-1-a").owner("ReplicaSet", "web-1").build(),
        ],
    );
    assert!(p.workloads.is_empty(), "{:?}", p.workloads);
}
