//! Table tests of the pure planner: every rule, every action, every hazard of domain.md section 4.

use crate::fixtures::*;
use istio_rollout::plan::{Action, Entry, Options, Plan, Reason, plan};
use serde_json::{Value, json};

const T: &str = "1.30.2";

/// Shapes a test pod.
type Shape = Box<dyn Fn(PodB) -> PodB>;

fn run_with(d: &istio_rollout::desired::Desired, mut objects: Vec<Value>, opts: &Options) -> Plan {
    objects.extend(control_plane(T, "1.30.0"));
    // The live CR equals git unless the test brings its own: only workloads are pending.
    if let (Some(cr), false) = (&d.istio, objects.iter().any(|o| o["kind"] == "Istio")) {
        objects.push(serde_json::to_value(cr).unwrap());
    }
    plan(d, &live(objects), opts)
}

fn run(spec: Value, objects: Vec<Value>) -> Plan {
    run_with(&desired(spec, T), objects, &Options::default())
}

fn find<'a>(p: &'a Plan, kind: &str, ns: &str, name: &str) -> Option<&'a Entry> {
    p.workloads
        .iter()
        .find(|e| e.kind.as_str() == kind && e.namespace == ns && e.name == name)
}

/// One Deployment `ns/web` with one pod built by `f`.
fn web(f: impl Fn(PodB) -> PodB) -> Vec<Value> {
    vec![
        deployment("ns", "web", 2),
        replica_set("ns", "web-1", Some("web"), 1),
        f(pod("ns", "web-1-a").rs("web-1")).build(),
    ]
}

fn reasons_of(spec: Value, f: impl Fn(PodB) -> PodB) -> Vec<Reason> {
    let p = run(spec, web(f));
    find(&p, "Deployment", "ns", "web")
        .map(|e| e.reasons.clone())
        .unwrap_or_default()
}

#[test]
fn istio_version_compares_versions_not_image_strings() {
    let cases: Vec<(&str, Shape, bool)> = vec![
        ("old tag", Box::new(|p| p.version("1.29.3")), true),
        ("target tag", Box::new(|p| p.version(T)), false),
        (
            "target without -distroless",
            Box::new(|p| p.image(&format!("{HUB}/proxyv2:{T}"))),
            false,
        ),
        (
            "registry mirror",
            Box::new(|p| p.image(&format!("mirror.local:5000/istio/proxyv2:{T}-distroless"))),
            false,
        ),
        (
            "tag and digest pin",
            Box::new(|p| p.image(&format!("{HUB}/proxyv2:{T}-distroless@sha256:abc"))),
            false,
        ),
        (
            "old version behind a mirror",
            Box::new(|p| p.image("mirror.local/proxyv2:1.29.3")),
            true,
        ),
        (
            "digest only, unknown version",
            Box::new(|p| p.image("mirror.local/proxyv2@sha256:abc")),
            true,
        ),
        (
            "native sidecar, old",
            Box::new(|p| p.native().version("1.29.3")),
            true,
        ),
        (
            "native sidecar, target",
            Box::new(|p| p.native().version(T)),
            false,
        ),
    ];
    for (name, f, planned) in cases {
        let r = reasons_of(json!({}), f);
        assert_eq!(r.contains(&Reason::IstioVersion), planned, "{name}: {r:?}");
    }
}

#[test]
fn digest_only_pin_of_the_release_image_is_in_sync() {
    let mut d = desired(json!({}), T);
    d.proxy_image = Some("mirror.local/proxyv2@sha256:abc".into());
    let p = run_with(
        &d,
        web(|p| p.image("mirror.local/proxyv2@sha256:abc")),
        &Options::default(),
    );
    assert!(p.workloads.is_empty(), "{:?}", p.workloads);
}

#[test]
fn prometheus_merge_follows_the_desired_setting_and_respects_opt_outs() {
    let on = json!({"config": {"telemetry": {"metrics": {"prometheusMerge": true}}}});
    let off = json!({"config": {"telemetry": {"metrics": {"prometheusMerge": false}}}});
    let cases: Vec<(&str, Value, Shape, bool)> = vec![
        (
            "on, annotations missing",
            on.clone(),
            Box::new(|p| p.version(T)),
            true,
        ),
        (
            "on, annotations present",
            on.clone(),
            Box::new(|p| p.version(T).merged("15020")),
            false,
        ),
        (
            "off, annotations present",
            off.clone(),
            Box::new(|p| p.version(T).merged("15020")),
            true,
        ),
        ("off, none", off.clone(), Box::new(|p| p.version(T)), false),
        (
            "absent means off",
            json!({}),
            Box::new(|p| p.version(T).merged("15020")),
            true,
        ),
        (
            "on, opted out of scraping",
            on.clone(),
            Box::new(|p| p.version(T).annotation("prometheus.io/scrape", "false")),
            false,
        ),
        (
            "on, opted out of merging",
            on.clone(),
            Box::new(|p| {
                p.version(T)
                    .annotation("prometheus.istio.io/merge-metrics", "false")
            }),
            false,
        ),
        (
            "off, opted out, stale annotations",
            off,
            Box::new(|p| {
                p.version(T)
                    .merged("15020")
                    .annotation("prometheus.io/scrape", "false")
            }),
            false,
        ),
        (
            "on, app's own metrics path",
            on,
            Box::new(|p| p.version(T).annotation("prometheus.io/path", "/metrics")),
            true,
        ),
    ];
    for (name, spec, f, planned) in cases {
        let r = reasons_of(spec, f);
        assert_eq!(r == vec![Reason::PrometheusMerge], planned, "{name}: {r:?}");
    }
}

#[test]
fn prometheus_merge_uses_the_mesh_status_port() {
    let on = json!({"config": {"telemetry": {"metrics": {"prometheusMerge": true}}}});
    let mut objects = web(|p| p.version(T).merged("15020"));
    objects.push(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio", "namespace": "istio-system"},
                        "data": {"mesh": "defaultConfig:\n  statusPort: 15099\n"}}));
    let p = run(on.clone(), objects);
    assert_eq!(
        find(&p, "Deployment", "ns", "web").unwrap().reasons,
        vec![Reason::PrometheusMerge]
    );
    let mut objects = web(|p| p.version(T).merged("15099"));
    objects.push(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio", "namespace": "istio-system"},
                        "data": {"mesh": "defaultConfig:\n  statusPort: 15099\n"}}));
    assert!(run(on, objects).workloads.is_empty());
}

#[test]
fn compatibility_mode_restarts_only_where_the_target_minor_has_proxy_flags() {
    let on = json!({"compatibilityMode": true});
    let off = json!({"compatibilityMode": false});
    let check = |spec: Value, target: &str, f: &dyn Fn(PodB) -> PodB| -> bool {
        let d = desired(spec, target);
        let mut objects = web(|p| f(p.version(target)));
        objects.extend(control_plane(target, "1.30.0"));
        let p = plan(&d, &live(objects), &Options::default());
        p.workloads
            .iter()
            .any(|e| e.reasons.contains(&Reason::CompatibilityMode))
    };
    assert!(check(on.clone(), "1.24.2", &|p| p));
    assert!(!check(on.clone(), "1.24.2", &|p| p
        .env("ENABLE_DEFERRED_STATS_CREATION", "false")
        .env("BYPASS_OVERLOAD_MANAGER_FOR_STATIC_LISTENERS", "false")));
    assert!(
        check(on.clone(), "1.24.2", &|p| p
            .env("ENABLE_DEFERRED_STATS_CREATION", "false")),
        "one flag of two is missing"
    );
    assert!(check(off.clone(), "1.22.3", &|p| p
        .env("ISTIO_DELTA_XDS", "false")));
    assert!(!check(off, "1.22.3", &|p| p));
    assert!(
        !check(on.clone(), "1.30.2", &|p| p),
        "1.25+ has no proxy flags"
    );
    assert!(!check(on, "1.25.3", &|p| p));
}

#[test]
fn dns_proxying_follows_the_cr_and_unset_is_off() {
    let on = json!({"config": {"enableDNSProxying": true}});
    assert_eq!(
        reasons_of(on.clone(), |p| p.version(T)),
        vec![Reason::DnsProxying]
    );
    assert!(reasons_of(on, |p| p.version(T).env("ISTIO_META_DNS_CAPTURE", "true")).is_empty());
    let off = json!({"config": {"enableDNSProxying": false}});
    assert_eq!(
        reasons_of(off, |p| p.version(T).env("ISTIO_META_DNS_CAPTURE", "true")),
        vec![Reason::DnsProxying]
    );
    // Unset is the module default, off (the CRD has no defaults): a capturing pod restarts.
    assert_eq!(
        reasons_of(json!({}), |p| p
            .version(T)
            .env("ISTIO_META_DNS_CAPTURE", "true")),
        vec![Reason::DnsProxying]
    );
    assert!(reasons_of(json!({}), |p| p.version(T)).is_empty());
}

#[test]
fn proxy_resources_compare_quantities_and_honour_pod_annotations() {
    let spec = json!({"components": {"proxy": {"k8s": {"resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}}}});
    let res = |cpu: &str, mem: &str| json!({"requests": {"cpu": cpu, "memory": mem}});
    assert!(
        reasons_of(spec.clone(), |p| p
            .version(T)
            .resources(res("0.1", "128Mi")))
        .is_empty()
    );
    assert_eq!(
        reasons_of(spec.clone(), |p| p
            .version(T)
            .resources(res("200m", "128Mi"))),
        vec![Reason::ProxyResources]
    );
    assert!(
        reasons_of(spec.clone(), |p| p
            .version(T)
            .resources(res("300m", "128Mi"))
            .annotation("sidecar.istio.io/proxyCPU", "300m"))
        .is_empty(),
        "the pod annotation wins over the CR"
    );
    assert_eq!(
        reasons_of(spec, |p| p
            .version(T)
            .resources(res("100m", "128Mi"))
            .annotation("sidecar.istio.io/proxyCPU", "300m")),
        vec![Reason::ProxyResources]
    );
    assert!(
        reasons_of(json!({}), |p| p.version(T).resources(res("1", "1Gi"))).is_empty(),
        "no CR resources: nothing judged"
    );
}

fn gateway_objects(
    last_applied: &str,
    desired_ntp: Option<u32>,
) -> (istio_rollout::desired::Desired, Vec<Value>) {
    let spec = match desired_ntp {
        Some(n) => json!({"config": {"numTrustedProxies": n}}),
        None => json!({}),
    };
    let objects = vec![
        json!({"apiVersion": "operator.kyma-project.io/v1alpha2", "kind": "Istio",
               "metadata": {"name": "default", "namespace": "kyma-system",
                            "annotations": {"operator.kyma-project.io/lastAppliedConfiguration": last_applied}},
               "spec": {"config": {"numTrustedProxies": 1}}}),
        deployment("istio-system", "istio-ingressgateway", 2),
        replica_set("istio-system", "gw-1", Some("istio-ingressgateway"), 1),
        pod("istio-system", "gw-1-a")
            .rs("gw-1")
            .version(T)
            .label("istio", "ingressgateway")
            .build(),
        web(|p| p.version(T)).remove(2),
        deployment("ns", "web", 2),
        replica_set("ns", "web-1", Some("web"), 1),
    ];
    (desired(spec, T), objects)
}

#[test]
fn ingress_gateway_restarts_alone_when_the_operator_applied_other_values() {
    let (d, objects) = gateway_objects(
        r#"{"config":{"numTrustedProxies":1},"IstioTag":"1.30.2-distroless"}"#,
        Some(2),
    );
    let p = run_with(&d, objects, &Options::default());
    assert_eq!(p.workloads.len(), 1, "{:?}", p.workloads);
    let e = find(&p, "Deployment", "istio-system", "istio-ingressgateway").unwrap();
    assert_eq!(
        (e.action, e.reasons.clone()),
        (Action::Restart, vec![Reason::IngressGatewayConfig])
    );
    assert!(e.details[0].contains("numTrustedProxies 1 -> 2"));
    assert_eq!(p.cr.action, istio_rollout::plan::cr::CrAction::Update);

    // Once the operator has applied the value, nothing is planned for the gateway.
    let (d, objects) = gateway_objects(
        r#"{"config":{"numTrustedProxies":2},"IstioTag":"1.30.2-distroless"}"#,
        Some(2),
    );
    assert!(
        run_with(&d, objects, &Options::default())
            .workloads
            .is_empty()
    );
}

#[test]
fn gateways_are_not_sidecar_targets() {
    let (d, objects) = gateway_objects(r#"{"config":{"numTrustedProxies":1}}"#, Some(1));
    let mut objects = objects;
    objects.push(
        pod("istio-system", "gw-1-b")
            .rs("gw-1")
            .version("1.29.3")
            .label("istio", "ingressgateway")
            .build(),
    );
    assert!(
        run_with(&d, objects, &Options::default())
            .workloads
            .is_empty()
    );
}

#[test]
fn uninstall_plans_every_pod_with_a_sidecar_except_gateways() {
    let objects = vec![
        deployment("ns", "web", 2),
        replica_set("ns", "web-1", Some("web"), 1),
        pod("ns", "web-1-a").rs("web-1").version(T).build(),
        pod("ns", "manual").not_injected().build(),
        pod("ns", "plain").not_injected().build().tap_remove_proxy(),
        deployment("istio-system", "istio-ingressgateway", 2),
        replica_set("istio-system", "gw-1", Some("istio-ingressgateway"), 1),
        pod("istio-system", "gw-1-a")
            .rs("gw-1")
            .label("istio", "ingressgateway")
            .build(),
    ];
    let p = run_with(&uninstall(), objects, &Options::default());
    assert!(p.uninstall);
    let names: Vec<(&str, Action)> = p
        .workloads
        .iter()
        .map(|e| (e.name.as_str(), e.action))
        .collect();
    assert_eq!(
        names,
        vec![("web", Action::Restart), ("manual", Action::Manual)]
    );
    assert!(
        p.workloads
            .iter()
            .all(|e| e.reasons == vec![Reason::Uninstall])
    );
}

trait TapRemoveProxy {
    fn tap_remove_proxy(self) -> Value;
}
impl TapRemoveProxy for Value {
    fn tap_remove_proxy(mut self) -> Value {
        self["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .retain(|c| c["name"] != "istio-proxy");
        self
    }
}

/// The operator restarts ownerless ReplicaSets and ReplicationControllers by deleting their pods,
/// past any PodDisruptionBudget: the plan warns on exactly those entries.
#[test]
fn the_operator_deleting_pods_itself_is_warned_about() {
    let old = |p: PodB| p.version("1.29.3");
    let objects = vec![
        deployment("a", "dep", 1),
        replica_set("a", "dep-1", Some("dep"), 1),
        old(pod("a", "dep-1-x").rs("dep-1")).build(),
        replica_set("a", "lonely-rs", None, 1),
        old(pod("a", "lonely-rs-x").rs("lonely-rs")).build(),
        simple("v1", "ReplicationController", "a", "rc", None),
        old(pod("a", "rc-x").owner("v1", "ReplicationController", "rc")).build(),
        stateful_set("a", "sts-od", 1, json!({"type": "OnDelete"})),
        old(pod("a", "sts-od-0").owner("apps/v1", "StatefulSet", "sts-od")).build(),
    ];
    let p = run(json!({}), objects);
    for (kind, name, warned) in [
        ("Deployment", "dep", false),
        ("ReplicaSet", "lonely-rs", true),
        ("ReplicationController", "rc", true),
        ("StatefulSet", "sts-od", false),
    ] {
        let e = find(&p, kind, "a", name)
            .unwrap_or_else(|| panic!("{kind} {name} missing: {:#?}", p.workloads));
        let says = e.warnings.iter().any(|w| {
            w.contains("deleting them") && w.contains("PodDisruptionBudgets do not hold it back")
        });
        assert_eq!(says, warned, "{kind} {name}: {:?}", e.warnings);
    }
}

#[test]
fn actions_by_owner_kind() {
    let old = |p: PodB| p.version("1.29.3");
    let objects = vec![
        deployment("a", "dep", 2),
        replica_set("a", "dep-1", Some("dep"), 1),
        old(pod("a", "dep-1-x").rs("dep-1")).build(),
        old(pod("a", "dep-1-y").rs("dep-1")).build(),
        stateful_set("a", "sts-ru", 2, json!({"type": "RollingUpdate"})),
        old(pod("a", "sts-ru-0").owner("apps/v1", "StatefulSet", "sts-ru")).build(),
        stateful_set("a", "sts-od", 2, json!({"type": "OnDelete"})),
        old(pod("a", "sts-od-0").owner("apps/v1", "StatefulSet", "sts-od")).build(),
        stateful_set(
            "a",
            "sts-part",
            3,
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}),
        ),
        old(pod("a", "sts-part-0").owner("apps/v1", "StatefulSet", "sts-part")).build(),
        daemon_set("a", "ds-ru", "RollingUpdate"),
        old(pod("a", "ds-ru-x").owner("apps/v1", "DaemonSet", "ds-ru")).build(),
        daemon_set("a", "ds-od", "OnDelete"),
        old(pod("a", "ds-od-x").owner("apps/v1", "DaemonSet", "ds-od")).build(),
        replica_set("a", "lonely-rs", None, 1),
        old(pod("a", "lonely-rs-x").rs("lonely-rs")).build(),
        simple("v1", "ReplicationController", "a", "rc", None),
        old(pod("a", "rc-x").owner("v1", "ReplicationController", "rc")).build(),
        simple("batch/v1", "Job", "a", "job", None),
        old(pod("a", "job-x").owner("batch/v1", "Job", "job")).build(),
        simple("batch/v1", "CronJob", "a", "cron", None),
        simple(
            "batch/v1",
            "Job",
            "a",
            "cron-1",
            Some(("batch/v1", "CronJob", "cron")),
        ),
        old(pod("a", "cron-1-x").owner("batch/v1", "Job", "cron-1")).build(),
        old(pod("a", "bare")).build(),
        old(pod("a", "argo-x").owner("argoproj.io/v1alpha1", "Rollout", "argo")).build(),
        old(pod("a", "ghost-x").rs("ghost-rs")).build(),
    ];
    let p = run(json!({}), objects);
    let expect = [
        ("Deployment", "dep", Action::Restart),
        ("StatefulSet", "sts-ru", Action::Restart),
        ("StatefulSet", "sts-od", Action::Evict),
        ("StatefulSet", "sts-part", Action::Blocked),
        ("DaemonSet", "ds-ru", Action::Restart),
        ("DaemonSet", "ds-od", Action::Evict),
        ("ReplicaSet", "lonely-rs", Action::Evict),
        ("ReplicationController", "rc", Action::Evict),
        ("Job", "job", Action::Manual),
        ("CronJob", "cron", Action::Manual),
        ("Pod", "bare", Action::Manual),
        ("Rollout", "argo", Action::Manual),
        ("ReplicaSet", "ghost-rs", Action::Manual),
    ];
    for (kind, name, action) in expect {
        let e = find(&p, kind, "a", name)
            .unwrap_or_else(|| panic!("{kind} {name} missing: {:#?}", p.workloads));
        assert_eq!(e.action, action, "{kind} {name}: {}", e.note);
        assert!(!e.note.is_empty());
    }
    assert_eq!(p.workloads.len(), expect.len());
    let dep = find(&p, "Deployment", "a", "dep").unwrap();
    assert_eq!(
        dep.pods,
        vec!["dep-1-x", "dep-1-y"],
        "two pods of one owner: one entry"
    );
    assert_eq!(
        dep.details,
        vec!["istio-proxy 1.29.3 -> 1.30.2 (all 2 pods)"]
    );
    assert_eq!(
        dep.template_annotations["istio-rollout/restarted-for"],
        "istio-version=1.30.2"
    );
    assert!(
        find(&p, "StatefulSet", "a", "sts-od")
            .unwrap()
            .template_annotations
            .is_empty(),
        "evictions change no template"
    );
    assert!(p.summary.pending);
    assert_eq!(
        (
            p.summary.restart,
            p.summary.evict,
            p.summary.manual,
            p.summary.blocked
        ),
        (3, 4, 5, 1)
    );
}

#[test]
fn paused_deployments_are_blocked() {
    let mut objects = web(|p| p.version("1.29.3"));
    objects[0]["spec"]["paused"] = json!(true);
    let p = run(json!({}), objects);
    let e = find(&p, "Deployment", "ns", "web").unwrap();
    assert_eq!(e.action, Action::Blocked);
    assert!(e.note.contains("paused"));
}

#[test]
fn a_rollout_under_way_is_waited_for_and_judged_by_its_newest_pods() {
    let rolling = |new_version: &str| {
        let mut d = deployment("ns", "web", 2);
        d["status"]["updatedReplicas"] = json!(1);
        d["status"]["replicas"] = json!(3);
        vec![
            d,
            replica_set("ns", "web-1", Some("web"), 1),
            replica_set("ns", "web-2", Some("web"), 2),
            pod("ns", "web-1-a").rs("web-1").version("1.29.3").build(),
            pod("ns", "web-1-b").rs("web-1").version("1.29.3").build(),
            pod("ns", "web-2-a")
                .rs("web-2")
                .version(new_version)
                .build(),
        ]
    };
    // The operator's restart already brings the target: nothing to plan.
    assert!(run(json!({}), rolling(T)).workloads.is_empty());
    // A rollout that brings the old proxy again: wait for it, then check again.
    let p = run(json!({}), rolling("1.29.3"));
    let e = find(&p, "Deployment", "ns", "web").unwrap();
    assert_eq!(e.action, Action::Wait);
    assert_eq!(e.pods, vec!["web-2-a"]);
    assert!(
        e.template_annotations.is_empty(),
        "never restarted on top of a rollout"
    );
}

#[test]
fn failed_rollouts_are_blocked() {
    let mut objects = web(|p| p.version("1.29.3"));
    objects[0]["status"]["conditions"] =
        json!([{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]);
    let e = find(&run(json!({}), objects), "Deployment", "ns", "web")
        .unwrap()
        .clone();
    assert_eq!(e.action, Action::Blocked);
}

#[test]
fn skips_custom_images_opt_outs_and_user_selectors() {
    let custom = run(
        json!({}),
        web(|p| {
            p.version("1.29.3")
                .annotation("sidecar.istio.io/proxyImage", "my/proxy:1")
        }),
    );
    assert_eq!(
        find(&custom, "Deployment", "ns", "web").unwrap().action,
        Action::Skip
    );
    assert!(!custom.summary.pending, "skips leave nothing pending");

    let mut objects = web(|p| p.version("1.29.3"));
    objects[0]["metadata"]["annotations"] = json!({"istio-rollout/skip": "true"});
    assert_eq!(
        find(&run(json!({}), objects), "Deployment", "ns", "web")
            .unwrap()
            .action,
        Action::Skip
    );

    let d = desired(json!({}), T);
    for opts in [
        Options {
            exclude: vec!["ns/*".into()],
            ..Default::default()
        },
        Options {
            exclude: vec!["Deployment/ns/web".into()],
            ..Default::default()
        },
    ] {
        let p = run_with(&d, web(|p| p.version("1.29.3")), &opts);
        let e = find(&p, "Deployment", "ns", "web").unwrap();
        assert_eq!(e.action, Action::Skip, "{opts:?}");
    }
    // --namespace leaves other namespaces out of the plan, counted but not listed.
    let p = run_with(
        &d,
        web(|p| p.version("1.29.3")),
        &Options {
            namespaces: vec!["other".into()],
            ..Default::default()
        },
    );
    assert!(find(&p, "Deployment", "ns", "web").is_none());
    assert_eq!((p.summary.left_out, p.summary.skip), (1, 0));
    assert!(!p.summary.pending);
    let p = run_with(
        &d,
        web(|p| p.version("1.29.3")),
        &Options {
            exclude: vec!["other/*".into()],
            ..Default::default()
        },
    );
    assert_eq!(
        find(&p, "Deployment", "ns", "web").unwrap().action,
        Action::Restart
    );
}

/// `--selector` matches the workload's labels (a bare pod's own), `--namespace-selector` the
/// labels of its Namespace in the live state; what they leave out is not in the plan at all (as
/// `kubectl get -l` lists nothing else), only counted, with a notice.
#[test]
fn label_and_namespace_selectors_narrow_the_plan() {
    use istio_rollout::plan::LabelFilter;
    let filter = |text: &str| {
        Some(LabelFilter {
            text: text.into(),
            selector: istio_rollout::selector::parse(text).unwrap(),
        })
    };
    let d = desired(json!({}), T);
    let mut objects = web(|p| p.version("1.29.3"));
    objects[0]["metadata"]["labels"] = json!({"app": "web", "tier": "front"});
    objects.push(
        pod("ns", "bare")
            .version("1.29.3")
            .label("app", "tool")
            .build(),
    );
    objects.push(json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "ns", "labels": {"team": "shop"}}}));
    // The entry's action, or None when the selection left it out (then counted, with a notice).
    let with = |objects: &Vec<Value>, opts: &Options, kind: &str, name: &str| {
        let p = run_with(&d, objects.clone(), opts);
        match find(&p, kind, "ns", name) {
            Some(e) => (Some(e.action), e.note.clone()),
            None => {
                assert!(p.summary.left_out > 0, "{opts:?}");
                assert!(
                    p.notices
                        .iter()
                        .any(|n| n.contains("outside the selection")),
                    "{:?}",
                    p.notices
                );
                (None, String::new())
            }
        }
    };
    let action = |opts: &Options, kind: &str, name: &str| with(&objects, opts, kind, name);
    let sel = |s: &str| Options {
        selector: filter(s),
        ..Default::default()
    };
    assert_eq!(
        action(&sel("app=web"), "Deployment", "web").0,
        Some(Action::Restart)
    );
    assert_eq!(action(&sel("app=web"), "Pod", "bare").0, None);
    // A bare pod is matched on its own labels, which the live model keeps whole for it.
    assert_eq!(
        action(&sel("app in (tool)"), "Pod", "bare").0,
        Some(Action::Manual)
    );
    assert_eq!(action(&sel("tier!=front"), "Deployment", "web").0, None);

    let ns_sel = |s: &str| Options {
        namespace_selector: filter(s),
        ..Default::default()
    };
    assert_eq!(
        action(&ns_sel("team=shop"), "Deployment", "web").0,
        Some(Action::Restart)
    );
    assert_eq!(action(&ns_sel("team=ops"), "Deployment", "web").0, None);
    // Without the Namespace object nothing can match.
    let mut objects = objects.clone();
    objects.pop();
    assert_eq!(
        with(&objects, &ns_sel("team=shop"), "Deployment", "web").0,
        None
    );
}

/// Kyma's restarter will honour `restarter.istio-operator.kyma-project.io/exclude`; so does the
/// planner, like `istio-rollout/skip`, on the workload or on a pod, and says which one it saw.
#[test]
fn the_kyma_restarter_exclude_annotation_opts_out_like_skip() {
    const KYMA: &str = "restarter.istio-operator.kyma-project.io/exclude";
    let mut on_workload = web(|p| p.version("1.29.3"));
    on_workload[0]["metadata"]["annotations"] = json!({KYMA: "true"});
    let on_pod = web(|p| p.version("1.29.3").annotation(KYMA, "true"));
    for (what, objects) in [("the Deployment", on_workload), ("the pod", on_pod)] {
        let plan = run(json!({}), objects);
        let e = find(&plan, "Deployment", "ns", "web").unwrap();
        assert_eq!(e.action, Action::Skip, "annotation on {what}");
        assert_eq!(
            e.note,
            format!("opted out with the annotation {KYMA}: \"true\""),
            "annotation on {what}"
        );
        assert!(!plan.summary.pending, "annotation on {what}");
    }
    // Anything but "true" opts nothing out, and both annotations name the first one.
    for value in ["false", "yes", ""] {
        let p = run(
            json!({}),
            web(|p| p.version("1.29.3").annotation(KYMA, value)),
        );
        assert_eq!(
            find(&p, "Deployment", "ns", "web").unwrap().action,
            Action::Restart,
            "{KYMA}: {value:?}"
        );
    }
    let both = run(
        json!({}),
        web(|p| {
            p.version("1.29.3")
                .annotation(KYMA, "true")
                .annotation("istio-rollout/skip", "true")
        }),
    );
    assert_eq!(
        find(&both, "Deployment", "ns", "web").unwrap().note,
        "opted out with the annotation istio-rollout/skip: \"true\""
    );
}

#[test]
fn warnings() {
    // restartPolicy Never (a bare pod), single replica that cannot surge, no readiness probe, a PDB.
    let p = run(json!({}), vec![old_bare_never()]);
    assert!(
        find(&p, "Pod", "ns", "bare")
            .unwrap()
            .warnings
            .iter()
            .any(|w| w.contains("49210"))
    );

    let mut objects = web(|p| p.version("1.29.3").no_readiness());
    objects[0]["spec"]["replicas"] = json!(1);
    objects[0]["spec"]["strategy"] =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}});
    let w = find(&run(json!({}), objects), "Deployment", "ns", "web")
        .unwrap()
        .warnings
        .clone();
    assert!(
        w.iter().any(|w| w.contains("1 replica and maxSurge 0")),
        "{w:?}"
    );
    assert!(w.iter().any(|w| w.contains("no readiness probe")), "{w:?}");

    let mut objects = web(|p| p.version("1.29.3"));
    objects[0]["spec"]["replicas"] = json!(1);
    let w = find(&run(json!({}), objects), "Deployment", "ns", "web")
        .unwrap()
        .warnings
        .clone();
    assert!(
        w.is_empty(),
        "one replica with the default maxSurge stays available: {w:?}"
    );

    let objects = vec![
        stateful_set("ns", "db", 3, json!({"type": "OnDelete"})),
        pod("ns", "db-0")
            .owner("apps/v1", "StatefulSet", "db")
            .label("app", "db")
            .version("1.29.3")
            .build(),
        json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "db", "namespace": "ns"},
               "spec": {"selector": {"matchLabels": {"app": "db"}}}, "status": {"disruptionsAllowed": 0, "currentHealthy": 3, "desiredHealthy": 3, "expectedPods": 3}}),
    ];
    let w = find(&run(json!({}), objects), "StatefulSet", "ns", "db")
        .unwrap()
        .warnings
        .clone();
    assert!(
        w.iter()
            .any(|w| w.contains("PodDisruptionBudget ns/db allows no disruption")),
        "{w:?}"
    );
}

fn old_bare_never() -> Value {
    pod("ns", "bare").version("1.29.3").restart_never().build()
}

#[test]
fn version_restarts_wait_for_the_control_plane() {
    let d = desired(json!({}), T);
    let mut objects = web(|p| p.version("1.29.3"));
    objects.extend(control_plane("1.29.3", "1.27.4"));
    let p = plan(&d, &live(objects), &Options::default());
    assert!(!p.control_plane.ready);
    assert!(
        p.notices
            .iter()
            .any(|n| n.contains("does not run Istio 1.30.2 yet")),
        "{:?}",
        p.notices
    );
    let e = find(&p, "Deployment", "ns", "web").unwrap();
    assert!(
        e.warnings
            .iter()
            .any(|w| w.contains("waits until the control plane runs Istio 1.30.2"))
    );
}

#[test]
fn kyma_workloads_come_first_then_sorted() {
    let old = |p: PodB| p.version("1.29.3");
    let objects = vec![
        old(pod("zeta", "b")).build(),
        old(pod("alpha", "a")).build(),
        old(pod("kyma-system", "k")).build(),
        old(pod("beta", "m"))
            .label("kyma-project.io/module", "eventing")
            .build(),
    ];
    let p = run(json!({}), objects);
    let order: Vec<&str> = p.workloads.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(order, vec!["m", "k", "a", "b"]);
}

#[test]
fn level_triggered_after_a_rollout_the_plan_is_empty_and_stays_empty() {
    let on = json!({"config": {"telemetry": {"metrics": {"prometheusMerge": true}}}});
    let before = run(on.clone(), web(|p| p.version("1.29.3")));
    assert!(before.summary.pending);
    // What a completed rollout leaves behind: pods on the target with the merge annotations.
    let after = run(on.clone(), web(|p| p.version(T).merged("15020")));
    assert!(!after.summary.pending, "{:?}", after.workloads);
    assert!(after.workloads.is_empty());
    assert_eq!(after.summary.in_sync, 1);
    // Planning again from the same state gives the same (empty) plan: nothing is planned forever.
    assert_eq!(after, run(on, web(|p| p.version(T).merged("15020"))));
}

#[test]
fn finished_and_uninjected_pods_are_ignored() {
    let objects = vec![
        pod("ns", "done")
            .version("1.29.3")
            .phase("Succeeded")
            .build(),
        pod("ns", "failed")
            .version("1.29.3")
            .phase("Failed")
            .build(),
        pod("ns", "plain").version("1.29.3").not_injected().build(),
    ];
    assert!(run(json!({}), objects).workloads.is_empty());
}
