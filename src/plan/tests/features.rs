//! `cni`, `ambient`, `dual-stack`: the flags of `kyma-system/istio-features` against what each
//! sidecar carries.

use super::*;
use crate::istio::features::{DUAL_STACK_ENV, HBONE_ENV};

const CR: &str = "apiVersion: operator.kyma-project.io/v1alpha2\nkind: Istio\nmetadata: {name: default, namespace: kyma-system}\nspec: {}\n";

fn features_cm(features: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "istio-features", "namespace": "kyma-system"},
           "data": {"features": features}})
}

fn provisioning(dual_stack: bool) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "kyma-provisioning-info", "namespace": "kyma-system"},
           "data": {"details": format!("networkDetails:\n  dualStackIPEnabled: {dual_stack}\n")}})
}

/// Git's CR (spec `{}`), module `module`, target Istio [`T`], and `istio-features` in git when
/// `features` is given.
fn git(module: &str, features: Option<&str>) -> Desired {
    let mut files = vec![
        File {
            path: "istio.yaml".into(),
            contents: CR.into(),
        },
        File {
            path: "ISTIO_MODULE_VERSION".into(),
            contents: module.into(),
        },
    ];
    if let Some(f) = features {
        files.push(File {
            path: "features.yaml".into(),
            contents: features_cm(f).to_string().into_bytes(),
        });
    }
    let opts = desired::Options {
        istio_version_override: Some(T.parse().unwrap()),
        ..Default::default()
    };
    desired::parse(source_at("."), &files, &opts).expect("the test desired state parses")
}

fn source_at(path: &str) -> Source {
    Source {
        repo: "repo".into(),
        reference: "main".into(),
        commit: "0".repeat(40),
        path: path.into(),
    }
}

/// Adds an init container `name` before the sidecar (as the injector puts it).
fn init(mut p: PodB, name: &str) -> PodB {
    p.0["spec"]["initContainers"] = json!([{"name": name, "image": image(T)}]);
    p
}

/// `ns/web` whose pod has the init container `init_name` (`""`: none) and these env vars, plus
/// `extra` objects (ConfigMaps).
fn plan_web(d: &Desired, init_name: &str, env: &[(&str, &str)], extra: Vec<Value>) -> Vec<Reason> {
    let mut objects = web(|p| {
        let mut p = if init_name.is_empty() {
            p
        } else {
            init(p, init_name)
        };
        for (k, v) in env {
            p = p.env(k, v);
        }
        p
    });
    objects.extend(extra);
    web_reasons(&run_desired(d, objects))
}

/// An `istio-features` ConfigMap's `features` JSON, or none.
type Flags<'a> = Option<&'a str>;
/// A sidecar's environment (name, value).
type Env<'a> = &'a [(&'a str, &'a str)];
/// (module, git's flags, cluster provisioned dual-stack, the pod's env, reasons)
type DualStackCase<'a> = (&'a str, Flags<'a>, Option<bool>, Env<'a>, &'a [Reason]);

#[test]
fn cni_on_or_off_decides_the_init_container() {
    use Reason::Cni;
    // (git's istio-features, live istio-features, the pod's init container, reasons)
    let cases: &[(Flags, Flags, &str, &[Reason])] = &[
        // Absent everywhere: CNI on, the default.
        (None, None, "istio-init", &[Cni]),
        (None, None, "istio-validation", &[]),
        (None, None, "", &[]),
        // The live ConfigMap stands when git has none.
        (
            None,
            Some(r#"{"disableCni": true}"#),
            "istio-validation",
            &[Cni],
        ),
        (None, Some(r#"{"disableCni": true}"#), "istio-init", &[]),
        (None, Some(r#"{"disableCni": false}"#), "istio-init", &[Cni]),
        // Git's ConfigMap wins over the live one, also when it sets nothing (defaults).
        (
            Some(r#"{"disableCni": true}"#),
            None,
            "istio-validation",
            &[Cni],
        ),
        (
            Some(r#"{"disableCni": true}"#),
            Some("{}"),
            "istio-init",
            &[],
        ),
        (
            Some("{}"),
            Some(r#"{"disableCni": true}"#),
            "istio-init",
            &[Cni],
        ),
        (
            Some("{}"),
            Some(r#"{"disableCni": true}"#),
            "istio-validation",
            &[],
        ),
        (
            Some(r#"{"disableCni": false}"#),
            Some(r#"{"disableCni": true}"#),
            "istio-init",
            &[Cni],
        ),
    ];
    for (i, (in_git, in_live, init_name, want)) in cases.iter().enumerate() {
        let d = git("1.30.0", *in_git);
        let extra = in_live.map(features_cm).into_iter().collect();
        assert_eq!(
            plan_web(&d, init_name, &[], extra),
            *want,
            "case {i}: git {in_git:?}, live {in_live:?}, {init_name}"
        );
    }
}

#[test]
fn a_cni_restart_is_planned_as_a_restart_with_its_reason_in_words() {
    let d = git("1.30.0", Some(r#"{"disableCni": true}"#));
    let p = run_desired(
        &d,
        web(|p| init(p, "istio-validation").owner("ReplicaSet", "web-1")),
    );
    let e = find(&p, "Deployment", "ns", "web").expect("planned");
    assert_eq!(e.action, crate::plan::Action::Restart);
    assert_eq!(
        e.details,
        ["istio-validation -> istio-init (Istio CNI off)"]
    );
    assert_eq!(
        e.template_annotations["istio-rollout/restarted-for"],
        "cni=off"
    );
}

#[test]
fn ambient_adds_hbone_from_module_1_32_0() {
    use Reason::Ambient;
    let on = Some(r#"{"enableAmbient": true}"#);
    let off = Some(r#"{"enableAmbient": false}"#);
    let hbone: &[(&str, &str)] = &[(HBONE_ENV, "true")];
    // (module, git's flags, the pod's env, reasons)
    let cases: &[(&str, Flags, Env, &[Reason])] = &[
        ("1.32.0", on, &[], &[Ambient]),
        ("1.32.0", on, hbone, &[]),
        ("1.33.0", on, &[], &[Ambient]),
        // Switched off: the injector renders no HBONE, so a pod that has it restarts.
        ("1.32.0", off, hbone, &[Ambient]),
        ("1.32.0", None, hbone, &[Ambient]),
        ("1.32.0", off, &[], &[]),
        ("1.32.0", on, &[(HBONE_ENV, "false")], &[Ambient]),
        // Before 1.32.0 the module does not know the flag: nothing either way.
        ("1.31.0", on, &[], &[]),
        ("1.31.0", off, hbone, &[]),
    ];
    for (i, (module, flags, env, want)) in cases.iter().enumerate() {
        let d = git(module, *flags);
        assert_eq!(
            plan_web(&d, "istio-validation", env, vec![]),
            *want,
            "case {i}: module {module}, {flags:?}, env {env:?}"
        );
    }
}

#[test]
fn ambient_is_judged_from_proxy_config_and_the_pods_own_override() {
    let d = git("1.32.0", Some(r#"{"enableAmbient": true}"#));
    let carried = |metadata: Value| {
        let config = json!({"proxyMetadata": metadata}).to_string();
        move |p: PodB| init(p, "istio-validation").env("PROXY_CONFIG", &config)
    };
    // PROXY_CONFIG is what the sidecar started with; the env var alone does not count then.
    let p = run_desired(&d, web(carried(json!({HBONE_ENV: "true"}))));
    assert!(web_reasons(&p).is_empty());
    let p = run_desired(&d, web(carried(json!({}))));
    assert_eq!(web_reasons(&p), [Reason::Ambient]);
    // A pod that sets the key in its own proxy.istio.io/config keeps it.
    let own = |p: PodB| {
        init(p, "istio-validation").annotation(
            "proxy.istio.io/config",
            &format!("proxyMetadata: {{{HBONE_ENV}: \"false\"}}"),
        )
    };
    assert!(web_reasons(&run_desired(&d, web(own))).is_empty());
}

#[test]
fn dual_stack_needs_the_flag_a_dual_stack_cluster_and_module_1_31_0() {
    use Reason::DualStack;
    let on = Some(r#"{"enableDualStack": true}"#);
    let off = Some("{}");
    let carried: &[(&str, &str)] = &[(DUAL_STACK_ENV, "true")];
    // (module, git's flags, cluster provisioned dual-stack, the pod's env, reasons)
    let cases: &[DualStackCase] = &[
        ("1.31.0", on, Some(true), &[], &[DualStack]),
        // As the injector renders it after the restart.
        ("1.31.0", on, Some(true), carried, &[]),
        ("1.33.0", on, Some(true), &[], &[DualStack]),
        // Not a dual-stack cluster, or no provisioning info: the flag does nothing.
        ("1.31.0", on, Some(false), &[], &[]),
        ("1.31.0", on, None, &[], &[]),
        // Before 1.31.0 the module does not know the flag.
        ("1.30.1", on, Some(true), &[], &[]),
        // It cannot be switched back: a sidecar that has it is never planned for it.
        ("1.31.0", off, Some(true), carried, &[]),
        ("1.31.0", None, Some(true), carried, &[]),
    ];
    for (i, (module, flags, cluster, env, want)) in cases.iter().enumerate() {
        let d = git(module, *flags);
        let extra = cluster.map(provisioning).into_iter().collect();
        assert_eq!(
            plan_web(&d, "istio-validation", env, extra),
            *want,
            "case {i}: module {module}, {flags:?}, cluster {cluster:?}, env {env:?}"
        );
    }
}

#[test]
fn the_live_flags_count_for_ambient_and_dual_stack_when_git_has_no_configmap() {
    let d = git("1.32.0", None);
    let live_flags = features_cm(r#"{"enableAmbient": true, "enableDualStack": true}"#);
    let reasons = plan_web(
        &d,
        "istio-validation",
        &[],
        vec![live_flags.clone(), provisioning(true)],
    );
    assert_eq!(reasons, [Reason::Ambient, Reason::DualStack]);
    let rendered = [(HBONE_ENV, "true"), (DUAL_STACK_ENV, "true")];
    let reasons = plan_web(
        &d,
        "istio-validation",
        &rendered,
        vec![live_flags, provisioning(true)],
    );
    assert!(reasons.is_empty(), "{reasons:?}");
}

#[test]
fn features_in_git_must_parse_and_be_one() {
    let parse = |files: Vec<(&str, String)>| {
        let mut all = vec![File {
            path: "istio.yaml".into(),
            contents: CR.into(),
        }];
        all.extend(files.into_iter().map(|(p, c)| File {
            path: p.into(),
            contents: c.into_bytes(),
        }));
        let opts = desired::Options {
            istio_version_override: Some(T.parse().unwrap()),
            ..Default::default()
        };
        desired::parse(source_at("."), &all, &opts)
    };
    let e = parse(vec![(
        "f.yaml",
        features_cm("{disableCni: true}").to_string(),
    )])
    .unwrap_err();
    let e = crate::error::report(&e);
    assert!(
        e.starts_with(
            "f.yaml: ConfigMap kyma-system/istio-features: data.features: not valid JSON"
        ),
        "{e}"
    );
    let one = features_cm("{}").to_string();
    let e = parse(vec![("a.yaml", one.clone()), ("b.yaml", one.clone())]).unwrap_err();
    let e = crate::error::report(&e);
    assert!(e.starts_with("b.yaml: ") && e.contains("a.yaml"), "{e}");
    // Another namespace's ConfigMap of that name is not the module's.
    let mut elsewhere = features_cm(r#"{"disableCni": true}"#);
    elsewhere["metadata"]["namespace"] = json!("shop");
    let d = parse(vec![("a.yaml", elsewhere.to_string())]).unwrap();
    assert!(d.features.is_none());
    let d = parse(vec![("a.yaml", one)]).unwrap();
    assert_eq!(d.features.map(|(f, _)| f).as_deref(), Some("a.yaml"));
}

#[test]
fn a_live_configmap_that_does_not_parse_names_itself() {
    let list = json!({"apiVersion": "v1", "kind": "List",
                      "items": [features_cm("not json")]});
    let e = crate::live::snapshot::parse("live.yaml", &list.to_string()).unwrap_err();
    let e = crate::error::report(&e);
    assert!(
        e.starts_with("live.yaml: ConfigMap kyma-system/istio-features: data.features: "),
        "{e}"
    );
}
