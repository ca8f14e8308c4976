//! Several Istio CRs: the operator reconciles only the oldest. When git's is not that one, its
//! settings never take: restarts for them are blocked, naming the CR that wins.

use super::*;
use crate::plan::Action;

fn older(name: &str, spec: Value) -> Value {
    let mut v = live_cr(name, spec, None);
    v["metadata"]["creationTimestamp"] = json!("2025-01-01T00:00:00Z");
    v
}

fn git_cr(spec: Value) -> Value {
    live_cr("default", spec, None)
}

#[test]
fn settings_restarts_are_blocked_when_git_s_cr_is_not_the_oldest() {
    let dns = json!({"config": {"enableDNSProxying": true}});
    type Case = (
        &'static str,
        Vec<Value>,
        fn(PodB) -> PodB,
        Option<Action>,
        bool,
    );
    let cases: Vec<Case> = vec![
        // (name, CRs, pod, action of ns/web, blocked notice)
        (
            "git's is the only one",
            vec![git_cr(dns.clone())],
            |p| p,
            Some(Action::Restart),
            false,
        ),
        (
            "git's is the oldest",
            vec![git_cr(dns.clone()), {
                let mut v = live_cr("newer", json!({}), None);
                v["metadata"]["creationTimestamp"] = json!("2027-01-01T00:00:00Z");
                v
            }],
            |p| p,
            Some(Action::Restart),
            false,
        ),
        (
            "an older CR wins",
            vec![git_cr(dns.clone()), older("old", json!({}))],
            |p| p,
            Some(Action::Blocked),
            true,
        ),
        (
            "an older CR wins, git's not created yet",
            vec![older("old", json!({}))],
            |p| p,
            Some(Action::Blocked),
            true,
        ),
        (
            "an older CR wins, version restart still planned",
            vec![git_cr(dns.clone()), older("old", json!({}))],
            |p| p.version("1.29.3"),
            Some(Action::Restart),
            true,
        ),
        (
            "an older CR wins, pod in sync with git",
            vec![git_cr(dns.clone()), older("old", json!({}))],
            |p| p.env("ISTIO_META_DNS_CAPTURE", "true"),
            None,
            true,
        ),
    ];
    for (name, crs, f, action, blocked) in cases {
        let p = run(dns.clone(), [crs, web(f)].concat());
        let e = find(&p, "Deployment", "ns", "web");
        assert_eq!(e.map(|e| e.action), action, "{name}: {:?}", p.workloads);
        if let (Some(e), true) = (e, blocked) {
            let text = format!("{} {:?}", e.note, e.warnings);
            assert!(text.contains("kyma-system/old"), "{name}: {text}");
        }
        let notice = p
            .notices
            .iter()
            .any(|n| n.contains("git's CR kyma-system/default is not it"));
        assert_eq!(
            notice,
            blocked && p.notices.iter().any(|n| n.contains("Istio CRs")),
            "{name}: {:?}",
            p.notices
        );
    }
}

#[test]
fn the_notice_names_the_cr_that_wins() {
    let p = run(json!({}), vec![git_cr(json!({})), older("old", json!({}))]);
    assert!(
        p.notices
            .iter()
            .any(|n| n.contains("reconciles only the oldest, kyma-system/old")),
        "{:?}",
        p.notices
    );
}
