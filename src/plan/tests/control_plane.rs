//! The control plane's version comes from pods that run; uninstall waits for Istio to be gone.

use super::*;
use crate::plan::Action;

fn evicted(mut pod: Value) -> Value {
    pod["status"] = json!({"phase": "Failed", "reason": "Evicted"});
    pod
}

fn terminating(mut pod: Value) -> Value {
    pod["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    pod
}

fn completed(mut pod: Value) -> Value {
    pod["status"]["phase"] = json!("Succeeded");
    pod
}

fn istiod_deployment(istio: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "istiod", "namespace": "istio-system", "labels": {"kyma-project.io/module": "istio"}},
           "spec": {"selector": {}, "template": {"spec": {"containers": [
               {"name": "discovery", "image": format!("{HUB}/pilot:{istio}-distroless")}]}}}})
}

#[test]
fn pods_that_do_not_run_are_not_the_control_plane() {
    type Case = (&'static str, Vec<Value>, Vec<&'static str>, bool);
    let cases: Vec<Case> = vec![
        (
            "evicted old istiod",
            vec![evicted(istiod("istiod-old", "1.28.3"))],
            vec![T],
            true,
        ),
        (
            "completed old istiod",
            vec![completed(istiod("istiod-old", "1.29.3"))],
            vec![T],
            true,
        ),
        (
            "terminating old istiod",
            vec![terminating(istiod("istiod-old", "1.29.3"))],
            vec![T],
            true,
        ),
        (
            "running old istiod",
            vec![istiod("istiod-old", "1.29.3")],
            vec!["1.29.3", T],
            false,
        ),
        (
            "an evicted pod of the target and a running old one",
            vec![
                evicted(istiod("istiod-old", T)),
                istiod("istiod-2", "1.29.3"),
            ],
            vec!["1.29.3", T],
            false,
        ),
    ];
    for (name, extra, versions, ready) in cases {
        let d = desired(json!({}), T);
        let live_state = live([control_plane(T), extra, web(|p| p)].concat());
        // The version gate of `plan` and `apply` reads the same versions.
        assert!(
            crate::plan::upgrade::check(&d, &live_state).is_ok() || !ready,
            "{name}"
        );
        let p = plan(&d, &live_state, &Options::default());
        let got: Vec<String> = p
            .control_plane
            .versions
            .iter()
            .map(|v| v.to_string())
            .collect();
        assert_eq!(got, versions, "{name}");
        assert_eq!(p.control_plane.ready, ready, "{name}");
        assert_eq!(p.notices.is_empty(), ready, "{name}: {:?}", p.notices);
    }
}

#[test]
fn an_evicted_pod_two_minors_back_does_not_fail_the_version_gate() {
    let d = desired(json!({}), T);
    let l = live(
        [
            control_plane(T),
            vec![evicted(istiod("istiod-old", "1.28.3"))],
        ]
        .concat(),
    );
    assert!(crate::plan::upgrade::check(&d, &l).is_ok());
    let l = live([control_plane(T), vec![istiod("istiod-old", "1.28.3")]].concat());
    let e = crate::plan::upgrade::check(&d, &l).unwrap_err();
    assert!(
        crate::error::report(&e).contains("skips a minor version"),
        "{e}"
    );
}

#[test]
fn templates_stand_in_when_no_control_plane_pod_runs() {
    let d = desired(json!({}), T);
    let objects = vec![evicted(istiod("istiod-1", "1.29.3")), istiod_deployment(T)];
    let p = plan(&d, &live(objects), &Options::default());
    assert!(p.control_plane.ready, "{:?}", p.control_plane);
}

#[test]
fn uninstall_removes_custom_images_too_and_waits_for_istio_to_go() {
    let custom = |p: PodB| p.annotation("sidecar.istio.io/proxyImage", "my/proxy:1");
    // Istio still runs: planned, waiting for it.
    let p = run_desired(&uninstall(), web(custom));
    assert!(p.uninstall);
    assert!(!p.control_plane.ready);
    assert!(
        p.notices.iter().any(|n| n.contains("Istio still runs")),
        "{:?}",
        p.notices
    );
    let e = find(&p, "Deployment", "ns", "web").unwrap();
    assert_eq!(
        (e.action, e.reasons.clone()),
        (Action::Restart, vec![Reason::Uninstall])
    );
    assert!(
        e.warnings
            .iter()
            .any(|w| w.contains("waits until Istio is uninstalled")),
        "{:?}",
        e.warnings
    );

    // Istio is gone: planned without waiting, custom image or not.
    for f in [custom, |p: PodB| p] {
        let p = plan(&uninstall(), &live(web(f)), &Options::default());
        assert!(p.control_plane.ready);
        assert!(p.notices.is_empty(), "{:?}", p.notices);
        let e = find(&p, "Deployment", "ns", "web").unwrap();
        assert_eq!(e.action, Action::Restart);
        assert!(
            e.warnings.iter().all(|w| !w.contains("waits")),
            "{:?}",
            e.warnings
        );
    }
    // After the restart the pod has no sidecar: nothing more.
    let mut objects = web(|p| p);
    objects[2]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .retain(|c| c["name"] != "istio-proxy");
    objects[2]["metadata"]["annotations"] = json!({});
    assert!(
        plan(&uninstall(), &live(objects), &Options::default())
            .workloads
            .is_empty()
    );

    // Updates still skip custom images.
    let p = run(json!({}), web(|p| custom(p).version("1.29.3")));
    assert_eq!(
        find(&p, "Deployment", "ns", "web").unwrap().action,
        Action::Skip
    );
}
