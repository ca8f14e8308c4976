//! What the Kyma Istio operator has done, judged from the live state alone: what it last applied
//! (the `lastAppliedConfiguration` annotation) and whether it has caught up with git. `apply` waits
//! on [`caught_up`]; the gateway rule reads [`last_applied`].

use super::Plan;
use crate::desired::Desired;
use crate::error::Invalid;
use crate::istio::cr::{LAST_APPLIED_ANNOTATION, NAMESPACE, State};
use crate::istio::{Istio, IstioSpec, Version};
use crate::live::LiveState;

/// The operator's record of its last reconcile: the spec it applied and the Istio it installed.
#[derive(Clone, Debug, PartialEq)]
pub struct LastApplied {
    pub spec: IstioSpec,
    /// `IstioTag` as written (`1.30.2-distroless`), when present.
    pub istio_tag: Option<String>,
}

impl LastApplied {
    /// The Istio version of [`istio_tag`](Self::istio_tag), when it parses as one.
    pub fn istio_version(&self) -> Option<Version> {
        self.istio_tag.as_deref().and_then(|t| t.parse().ok())
    }
}

/// Parses the CR's `lastAppliedConfiguration`: the spec JSON with a capitalised `IstioTag` key
/// beside it. `None` without the annotation; an error when it is not such JSON.
pub fn last_applied(istio: &Istio) -> Option<Result<LastApplied, Invalid>> {
    let raw = istio
        .metadata
        .annotations
        .as_ref()?
        .get(LAST_APPLIED_ANNOTATION)?;
    Some((|| {
        let mut v: serde_json::Value = serde_json::from_str(raw).map_err(Invalid::Json)?;
        let tag = v.as_object_mut().and_then(|o| o.remove("IstioTag"));
        let spec = crate::error::decode(v)?;
        Ok(LastApplied {
            spec,
            istio_tag: tag.and_then(|t| t.as_str().map(String::from)),
        })
    })())
}

/// The CR's `ProxySidecarRestartSucceeded` condition says some sidecars need a person
/// (reason `ProxySidecarManualRestartRequired`).
fn manual_restarts_required(cr: &Istio) -> bool {
    cr.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.type_ == "ProxySidecarRestartSucceeded"
                    && c.reason == "ProxySidecarManualRestartRequired"
            })
        })
}

/// Whether the CR is `Warning` only because some sidecars need a person (bare or Job pods with an
/// old sidecar): the operator has done what it can, but records only `IstioTag` and the gateway
/// fields, and its status says nothing about whether it has reconciled a newer spec or is still
/// restarting.
pub fn warning_for_manual_restarts(cr: &Istio) -> bool {
    cr.status.as_ref().map(|s| s.state) == Some(State::Warning) && manual_restarts_required(cr)
}

/// The first sidecar setting git's spec gives that the installed mesh config does not carry yet,
/// named as the mesh config names it. A field the mesh config leaves out (`enablePrometheusMerge`
/// absent) is not judged.
pub fn mesh_differs(want: &IstioSpec, mesh: &crate::live::Mesh) -> Option<&'static str> {
    if mesh
        .prometheus_merge
        .is_some_and(|m| m != want.prometheus_merge())
    {
        return Some("enablePrometheusMerge");
    }
    if mesh.dns_capture != want.dns_proxying().unwrap_or(false) {
        return Some("defaultConfig.proxyMetadata.ISTIO_META_DNS_CAPTURE");
    }
    if mesh.stats_inclusion != super::settings::stats_regexps(want) {
        return Some("defaultConfig.proxyStatsMatcher");
    }
    None
}

/// Whether two specs mean the same to the operator. It records a spec with `config`,
/// `config.telemetry` and `config.telemetry.metrics` always present and false booleans left out,
/// so `spec: {}` comes back as `{"config":{"telemetry":{"metrics":{}}}}`: compare the specs with
/// empty objects, nulls and `false` removed (every boolean of the CR defaults to false).
pub fn same_meaning(a: &IstioSpec, b: &IstioSpec) -> bool {
    fn prune(v: serde_json::Value) -> Option<serde_json::Value> {
        use serde_json::Value;
        match v {
            Value::Null | Value::Bool(false) => None,
            Value::Object(m) => {
                let m: serde_json::Map<String, Value> = m
                    .into_iter()
                    .filter_map(|(k, v)| prune(v).map(|v| (k, v)))
                    .collect();
                (!m.is_empty()).then_some(Value::Object(m))
            }
            other => Some(other),
        }
    }
    let norm = |s: &IstioSpec| serde_json::to_value(s).ok().and_then(prune);
    norm(a) == norm(b)
}

/// Whether the operator has yet to apply git's spec: the live CR's `lastAppliedConfiguration`
/// does not mean what git's spec means (a CR change synced by its owner but not reconciled yet,
/// as when `apply` runs as a PostSync hook). `false` without a CR in git or a record to compare.
pub fn spec_pending(desired: &Desired, live: &LiveState) -> bool {
    let Some(want) = &desired.istio else {
        return false;
    };
    let name = want.metadata.name.as_deref().unwrap_or("default");
    match live.istio_cr(NAMESPACE, name).and_then(last_applied) {
        Some(Ok(applied)) => !same_meaning(&applied.spec, &want.spec),
        _ => false,
    }
}

fn show(versions: &[Version]) -> String {
    format!(
        "{:?}",
        versions.iter().map(|v| v.to_string()).collect::<Vec<_>>()
    )
}

/// Why the operator has not caught up with `desired` yet, or `None` when it has: the CR Ready, its
/// `lastAppliedConfiguration` equal to git's spec with the target `IstioTag`, and the control
/// plane on the target version only. On uninstall: no control plane left. `plan` is the plan of
/// `desired` against `live` (only its control-plane part is read).
pub fn caught_up(desired: &Desired, live: &LiveState, plan: &Plan) -> Option<String> {
    let running = &plan.control_plane.versions;
    match &desired.istio {
        None if !running.is_empty() => {
            return Some(format!(
                "Istio is still installed (the control plane runs {}): uninstall it first (GitOps prunes the CR)",
                show(running)
            ));
        }
        None => {}
        Some(want) => {
            let name = want.metadata.name.as_deref().unwrap_or("default");
            let Some(cr) = live.istio_cr(NAMESPACE, name) else {
                return Some("the Istio CR is not in the cluster yet".into());
            };
            let state = cr.status.as_ref().map(|s| s.state);
            // Warning because bare or Job pods keep an old sidecar: the operator is done with
            // everything it can do (those pods are the plan's manual entries), but it records
            // only `IstioTag` and the gateway fields, not the rest of the spec.
            let manual_only = warning_for_manual_restarts(cr);
            if state != Some(State::Ready) && !manual_only {
                return Some(format!("Istio CR state is {state:?}, not Ready"));
            }
            let applied = match last_applied(cr) {
                Some(Ok(applied)) => applied,
                _ => return Some("no lastAppliedConfiguration yet".into()),
            };
            let agrees = if manual_only {
                super::gateway::same_recorded_settings(&applied.spec, &want.spec)
            } else {
                same_meaning(&applied.spec, &want.spec)
            };
            if !agrees {
                return Some("lastAppliedConfiguration does not match git yet".into());
            }
            // Under that Warning the record cannot tell whether a newer spec (a CR change synced
            // while the CR was Warning) has been installed: what new sidecars get can.
            if manual_only
                && let Some(field) = live.mesh.as_ref().and_then(|m| mesh_differs(&want.spec, m))
            {
                return Some(format!(
                    "the mesh config istio-system/istio does not carry git's {field} yet (the CR is Warning for manual restarts, so lastAppliedConfiguration does not show the spec)"
                ));
            }
            if let Some(target) = desired.istio_version
                && applied.istio_version() != Some(target)
            {
                return Some(format!(
                    "lastAppliedConfiguration IstioTag is not {target} yet"
                ));
            }
        }
    }
    if !plan.control_plane.ready {
        return Some(format!(
            "the control plane runs {}, not only {}",
            show(running),
            desired
                .istio_version
                .map(|v| v.to_string())
                .unwrap_or_default()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::{File, Source};
    use serde_json::json;

    const CR: &str = "apiVersion: operator.kyma-project.io/v1alpha2\nkind: Istio\nmetadata: {name: default, namespace: kyma-system}\nspec: {config: {numTrustedProxies: 2}}\n";
    const DONE: &str = r#"{"config":{"numTrustedProxies":2},"IstioTag":"1.30.2-distroless"}"#;

    fn desired(cr: bool) -> Desired {
        desired_from(cr.then_some(CR))
    }

    fn desired_from(cr: Option<&str>) -> Desired {
        let source = Source {
            repo: "r".into(),
            reference: "HEAD".into(),
            commit: "c".into(),
            path: ".".into(),
        };
        let mut files = vec![File {
            path: "ISTIO_MODULE_VERSION".into(),
            contents: b"1.28.0".to_vec(),
        }];
        if let Some(cr) = cr {
            files.push(File {
                path: "cr.yaml".into(),
                contents: cr.into(),
            });
        }
        let opts = crate::desired::Options {
            allow_uninstall: cr.is_none(),
            ..Default::default()
        };
        crate::desired::parse(source, &files, &opts).unwrap()
    }

    fn cr(state: &str, applied: Option<&str>) -> serde_json::Value {
        let mut metadata = json!({"name": "default", "namespace": "kyma-system"});
        if let Some(a) = applied {
            metadata["annotations"] = json!({LAST_APPLIED_ANNOTATION: a});
        }
        json!({"apiVersion": "operator.kyma-project.io/v1alpha2", "kind": "Istio",
               "metadata": metadata,
               "spec": {"config": {"numTrustedProxies": 2}}, "status": {"state": state}})
    }

    fn istiod(name: &str, version: &str) -> serde_json::Value {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "istio-system", "labels": {"kyma-project.io/module": "istio"}},
            "spec": {"containers": [{"name": "discovery", "image": format!("pilot:{version}-distroless")}]}})
    }

    fn state(items: Vec<serde_json::Value>) -> LiveState {
        crate::live::snapshot::parse("t", &json!({"kind": "List", "items": items}).to_string())
            .unwrap()
    }

    fn live(state_: &str, applied: &str, istiod_version: Option<&str>) -> LiveState {
        let mut items = vec![cr(state_, Some(applied))];
        items.extend(istiod_version.map(|v| istiod("istiod-1", v)));
        state(items)
    }

    fn why(d: &Desired, l: &LiveState) -> Option<String> {
        let plan = crate::plan::plan(d, l, &Default::default());
        caught_up(d, l, &plan)
    }

    #[test]
    fn the_operator_has_caught_up_only_when_everything_agrees() {
        let d = desired(true);
        assert_eq!(why(&d, &live("Ready", DONE, Some("1.30.2"))), None);
        assert!(
            why(&d, &live("Processing", DONE, Some("1.30.2")))
                .unwrap()
                .contains("not Ready")
        );
        let old_spec = r#"{"config":{"numTrustedProxies":1},"IstioTag":"1.30.2-distroless"}"#;
        assert!(
            why(&d, &live("Ready", old_spec, Some("1.30.2")))
                .unwrap()
                .contains("does not match git")
        );
        let old_tag = r#"{"config":{"numTrustedProxies":2},"IstioTag":"1.29.3-distroless"}"#;
        assert!(
            why(&d, &live("Ready", old_tag, Some("1.30.2")))
                .unwrap()
                .contains("IstioTag")
        );
        assert!(
            why(&d, &live("Ready", DONE, Some("1.29.3")))
                .unwrap()
                .contains("control plane")
        );
    }

    fn spec(json: serde_json::Value) -> IstioSpec {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn specs_are_compared_by_meaning_as_the_operator_records_them() {
        let empty = spec(json!({}));
        for same in [
            json!({"config": {"telemetry": {"metrics": {}}}}),
            json!({"config": {}}),
            json!({"config": {"telemetry": {"metrics": {"prometheusMerge": false}}}}),
            json!({"compatibilityMode": false, "config": {"enableDNSProxying": false}}),
        ] {
            assert!(same_meaning(&spec(same.clone()), &empty), "{same}");
            assert!(same_meaning(&empty, &spec(same.clone())), "{same}");
        }
        for differs in [
            json!({"config": {"telemetry": {"metrics": {"prometheusMerge": true}}}}),
            json!({"config": {"numTrustedProxies": 0}}),
            json!({"compatibilityMode": true}),
        ] {
            assert!(!same_meaning(&spec(differs.clone()), &empty), "{differs}");
        }
    }

    #[test]
    fn an_empty_spec_recorded_the_operator_s_way_has_caught_up() {
        let d = desired(true);
        let l = live(
            "Ready",
            r#"{"config":{"numTrustedProxies":2,"telemetry":{"metrics":{}}},"IstioTag":"1.30.2-distroless"}"#,
            Some("1.30.2"),
        );
        assert_eq!(why(&d, &l), None);
        let empty_git = {
            let mut d = d.clone();
            d.istio.as_mut().unwrap().spec = spec(json!({}));
            d
        };
        let recorded = live(
            "Ready",
            r#"{"config":{"telemetry":{"metrics":{}}},"IstioTag":"1.30.2-distroless"}"#,
            Some("1.30.2"),
        );
        assert_eq!(why(&empty_git, &recorded), None);
    }

    /// A CR in Warning because of manual restarts: caught up once the tag and the gateway
    /// fields are recorded (the operator writes nothing else then); any other Warning waits.
    #[test]
    fn warning_for_manual_restarts_counts_as_caught_up() {
        let d = desired(true);
        let with_condition = |reason: &str, applied: &str| {
            let mut c = cr("Warning", Some(applied));
            c["status"]["conditions"] = json!([{
                "type": "ProxySidecarRestartSucceeded", "status": "False", "reason": reason,
                "message": "The sidecars of the following workloads could not be restarted: shop/bare",
                "lastTransitionTime": "2026-12-02T00:00:00Z"}]);
            state(vec![c, istiod("istiod-1", "1.30.2")])
        };
        // The proxy fields and the rest of the spec are not recorded under a warning.
        let gateway_only = r#"{"config":{"numTrustedProxies":2,"telemetry":{"metrics":{}}},"IstioTag":"1.30.2-distroless"}"#;
        assert_eq!(
            why(
                &d,
                &with_condition("ProxySidecarManualRestartRequired", gateway_only)
            ),
            None
        );
        // git's CR sets no stats matcher; one still recorded from before does not hold it up.
        let old_proxy_fields = r#"{"config":{"numTrustedProxies":2,"proxyStatsMatcher":{"inclusionRegexps":["x"]}},"IstioTag":"1.30.2-distroless"}"#;
        assert_eq!(
            why(
                &d,
                &with_condition("ProxySidecarManualRestartRequired", old_proxy_fields)
            ),
            None
        );
        let old_gateway = r#"{"config":{"numTrustedProxies":1},"IstioTag":"1.30.2-distroless"}"#;
        assert!(
            why(
                &d,
                &with_condition("ProxySidecarManualRestartRequired", old_gateway)
            )
            .unwrap()
            .contains("does not match git")
        );
        let old_tag = r#"{"config":{"numTrustedProxies":2},"IstioTag":"1.29.3-distroless"}"#;
        assert!(
            why(
                &d,
                &with_condition("ProxySidecarManualRestartRequired", old_tag)
            )
            .unwrap()
            .contains("IstioTag")
        );
        assert!(
            why(
                &d,
                &with_condition("IstioVersionUpdateNotAllowed", gateway_only)
            )
            .unwrap()
            .contains("not Ready")
        );
    }

    /// A CR change synced while the CR is Warning for manual restarts: the record shows only the
    /// tag and the gateway fields, so the mesh config tells whether the operator has installed
    /// git's sidecar settings yet.
    #[test]
    fn under_a_manual_warning_the_mesh_config_must_carry_git_s_settings() {
        let d = desired_from(Some(
            "apiVersion: operator.kyma-project.io/v1alpha2\nkind: Istio\nmetadata: {name: default, namespace: kyma-system}\n\
             spec: {config: {numTrustedProxies: 2, enableDNSProxying: true, telemetry: {metrics: {prometheusMerge: true}}, \
             proxyStatsMatcher: {inclusionRegexps: [b, a]}}}\n",
        ));
        let with_mesh = |mesh: Option<&str>| {
            let mut c = cr("Warning", Some(DONE));
            c["status"]["conditions"] = json!([{
                "type": "ProxySidecarRestartSucceeded", "status": "False",
                "reason": "ProxySidecarManualRestartRequired", "message": "m",
                "lastTransitionTime": "2026-12-02T00:00:00Z"}]);
            let mut items = vec![c, istiod("istiod-1", "1.30.2")];
            items.extend(mesh.map(|m| {
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "istio", "namespace": "istio-system"}, "data": {"mesh": m}})
            }));
            state(items)
        };
        let installed = "defaultConfig:\n  statusPort: 15020\n  proxyMetadata: {ISTIO_META_DNS_CAPTURE: \"true\"}\n  \
                         proxyStatsMatcher: {inclusionRegexps: [a, b, a]}\nenablePrometheusMerge: true\n";
        assert_eq!(why(&d, &with_mesh(Some(installed))), None);
        let before = [
            (
                installed.replace(
                    "enablePrometheusMerge: true",
                    "enablePrometheusMerge: false",
                ),
                "enablePrometheusMerge",
            ),
            (
                installed.replace("{ISTIO_META_DNS_CAPTURE: \"true\"}", "{}"),
                "ISTIO_META_DNS_CAPTURE",
            ),
            (installed.replace("[a, b, a]", "[a]"), "proxyStatsMatcher"),
            (
                installed.replace("  proxyStatsMatcher: {inclusionRegexps: [a, b, a]}\n", ""),
                "proxyStatsMatcher",
            ),
        ];
        for (mesh, field) in before {
            let why = why(&d, &with_mesh(Some(&mesh))).unwrap_or_default();
            assert!(
                why.contains(field) && why.contains("istio-system/istio"),
                "{mesh}: {why}"
            );
        }
        // A mesh config without the merge key is not judged on it; none at all, not at all.
        let no_merge = installed.replace("enablePrometheusMerge: true\n", "");
        assert_eq!(why(&d, &with_mesh(Some(&no_merge))), None);
        assert_eq!(why(&d, &with_mesh(None)), None);
        // A Ready CR records the whole spec: the record decides, not the mesh config.
        let mut ready = cr("Ready", Some(DONE));
        ready["spec"] = json!({});
        let stale = installed.replace(
            "enablePrometheusMerge: true",
            "enablePrometheusMerge: false",
        );
        let l = state(vec![
            ready,
            istiod("istiod-1", "1.30.2"),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "istio", "namespace": "istio-system"}, "data": {"mesh": stale}}),
        ]);
        assert!(why(&d, &l).unwrap().contains("does not match git"));
    }

    /// A CR synced by its owner but not reconciled yet: its record means another spec.
    #[test]
    fn a_spec_not_applied_yet_is_pending() {
        let d = desired(true);
        assert!(!spec_pending(&d, &live("Ready", DONE, Some("1.30.2"))));
        // Recorded the operator's way (metrics always present): the same meaning.
        let recorded = r#"{"config":{"numTrustedProxies":2,"telemetry":{"metrics":{}}},"IstioTag":"1.29.3-distroless"}"#;
        assert!(!spec_pending(&d, &live("Ready", recorded, Some("1.29.3"))));
        let other = r#"{"config":{"numTrustedProxies":1},"IstioTag":"1.30.2-distroless"}"#;
        assert!(spec_pending(&d, &live("Ready", other, Some("1.30.2"))));
        // Nothing to compare with: not pending.
        assert!(!spec_pending(&d, &state(vec![cr("Ready", None)])));
        assert!(!spec_pending(&desired(false), &live("Ready", other, None)));
    }

    #[test]
    fn uninstall_waits_until_istio_is_gone() {
        let d = desired(false);
        assert!(
            why(&d, &live("Deleting", "{}", Some("1.30.2")))
                .unwrap()
                .contains("still installed")
        );
        assert_eq!(why(&d, &live("Deleting", "{}", None)), None);
        // The CR's state does not matter once nothing runs: even a CR left in Error.
        assert_eq!(why(&d, &live("Error", DONE, None)), None);
        assert_eq!(why(&d, &state(vec![])), None);
    }

    #[test]
    fn every_cr_state_but_ready_waits() {
        let d = desired(true);
        for s in ["Processing", "Warning", "Error", "Deleting"] {
            assert_eq!(
                why(&d, &live(s, DONE, Some("1.30.2"))),
                Some(format!("Istio CR state is Some({s}), not Ready")),
                "{s}"
            );
        }
        let no_status = {
            let mut c = cr("Ready", Some(DONE));
            c.as_object_mut().unwrap().remove("status");
            state(vec![c, istiod("istiod-1", "1.30.2")])
        };
        assert_eq!(
            why(&d, &no_status),
            Some("Istio CR state is None, not Ready".into())
        );
    }

    #[test]
    fn a_missing_cr_or_record_waits() {
        let d = desired(true);
        assert_eq!(
            why(&d, &state(vec![istiod("istiod-1", "1.30.2")])),
            Some("the Istio CR is not in the cluster yet".into())
        );
        let unrecorded = state(vec![cr("Ready", None), istiod("istiod-1", "1.30.2")]);
        assert_eq!(
            why(&d, &unrecorded),
            Some("no lastAppliedConfiguration yet".into())
        );
        assert_eq!(
            why(&d, &live("Ready", "not json", Some("1.30.2"))),
            Some("no lastAppliedConfiguration yet".into())
        );
    }

    #[test]
    fn the_tag_must_name_the_target_version() {
        let d = desired(true);
        let want = Some("lastAppliedConfiguration IstioTag is not 1.30.2 yet".to_string());
        for applied in [
            // Only the spec recorded (the operator's first write is the tag alone, its last both).
            r#"{"config":{"numTrustedProxies":2}}"#,
            r#"{"config":{"numTrustedProxies":2},"IstioTag":"1.31.0-distroless"}"#,
            r#"{"config":{"numTrustedProxies":2},"IstioTag":"latest"}"#,
            r#"{"config":{"numTrustedProxies":2},"IstioTag":1302}"#,
        ] {
            assert_eq!(
                why(&d, &live("Ready", applied, Some("1.30.2"))),
                want,
                "{applied}"
            );
        }
        // The suffix is the image flavour, not part of the version.
        let plain = r#"{"config":{"numTrustedProxies":2},"IstioTag":"1.30.2"}"#;
        assert_eq!(why(&d, &live("Ready", plain, Some("1.30.2"))), None);
    }

    #[test]
    fn the_control_plane_must_run_the_target_only() {
        let d = desired(true);
        let mixed = state(vec![
            cr("Ready", Some(DONE)),
            istiod("istiod-1", "1.29.3"),
            istiod("istiod-2", "1.30.2"),
        ]);
        assert_eq!(
            why(&d, &mixed),
            Some(r#"the control plane runs ["1.29.3", "1.30.2"], not only 1.30.2"#.into())
        );
        assert_eq!(
            why(&d, &live("Ready", DONE, None)),
            Some("the control plane runs [], not only 1.30.2".into())
        );
    }

    #[test]
    fn last_applied_splits_the_tag_from_the_spec() {
        let with = |a: Option<&str>| -> Istio { serde_json::from_value(cr("Ready", a)).unwrap() };
        let got = last_applied(&with(Some(DONE))).unwrap().unwrap();
        assert_eq!(got.istio_tag.as_deref(), Some("1.30.2-distroless"));
        assert_eq!(got.istio_version(), Some("1.30.2".parse().unwrap()));
        let want: IstioSpec =
            serde_json::from_value(json!({"config": {"numTrustedProxies": 2}})).unwrap();
        assert_eq!(got.spec, want);

        let untagged = last_applied(&with(Some("{}"))).unwrap().unwrap();
        assert_eq!(
            (untagged.istio_tag.as_deref(), untagged.istio_version()),
            (None, None)
        );
        assert_eq!(untagged.spec, IstioSpec::default());

        assert!(last_applied(&with(None)).is_none());
        assert!(last_applied(&with(Some("[1"))).unwrap().is_err());
        assert!(
            last_applied(&with(Some(r#"{"config":{"numTrustedProxies":"two"}}"#)))
                .unwrap()
                .is_err()
        );
    }
}
