//! manifests/argocd: the Application, the ignoreDifferences snippets and the Lua health check of
//! the Istio CR, in agreement with the PostSync Job.

use super::env_value;
use crate::common::manifests::*;
use serde_json::{Value, json};

#[test]
fn argo_cd_objects_have_their_required_fields() {
    let job = &jobs("argocd")[0];
    let c = the_container(job);

    let app = one("argocd/application.yaml");
    assert_eq!(app["apiVersion"], "argoproj.io/v1alpha1");
    assert_eq!(app["kind"], "Application");
    assert!(app["metadata"]["name"].is_string() && app["metadata"]["namespace"].is_string());
    let spec = &app["spec"];
    assert!(spec["project"].is_string(), "Application: spec.project");
    assert!(
        spec["destination"]["server"].is_string() || spec["destination"]["name"].is_string(),
        "Application: spec.destination.server or .name"
    );
    let sources = spec["sources"]
        .as_array()
        .expect("Application: spec.sources");
    for s in sources {
        assert!(
            s["repoURL"].is_string() && s["path"].is_string(),
            "Application: each source has repoURL and path"
        );
    }
    // The hook reads what the Application syncs.
    assert!(
        sources.iter().any(|s| {
            Some(s["repoURL"].as_str().unwrap().to_string()) == env_value(c, "ISTIO_ROLLOUT_REPO")
                && Some(s["path"].as_str().unwrap().to_string())
                    == env_value(c, "ISTIO_ROLLOUT_PATH")
                && s["targetRevision"].as_str().map(String::from)
                    == env_value(c, "ISTIO_ROLLOUT_REF")
        }),
        "Application: one source is the repository, ref and path the Job reads"
    );
    assert!(
        sources
            .iter()
            .any(|s| s["path"].as_str().unwrap().ends_with("manifests/argocd")),
        "Application: one source is the istio-rollout Argo CD kustomization"
    );

    let kinds = ["Deployment", "StatefulSet", "DaemonSet"];
    let check_rule = |rule: &Value, what: &str| {
        assert!(
            rule["managedFieldsManagers"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m == istio_rollout::apply::FIELD_MANAGER)),
            "{what}: managedFieldsManagers names the field manager {}",
            istio_rollout::apply::FIELD_MANAGER
        );
        let jq = rule["jqPathExpressions"]
            .as_array()
            .expect("jqPathExpressions");
        for key in [
            istio_rollout::live::RESTARTED_AT_ANNOTATION,
            istio_rollout::live::RESTARTED_FOR_ANNOTATION,
        ] {
            assert!(
                jq.iter()
                    .any(|e| e == &json!(format!(".spec.template.metadata.annotations.\"{key}\""))),
                "{what}: a jq path for {key}"
            );
        }
    };

    let ignore = one("argocd/ignore-differences.yaml");
    assert_eq!(ignore["kind"], "Application");
    let rules = ignore["spec"]["ignoreDifferences"]
        .as_array()
        .expect("spec.ignoreDifferences");
    for kind in kinds {
        let rule = rules
            .iter()
            .find(|r| r["kind"] == kind)
            .unwrap_or_else(|| panic!("ignoreDifferences for {kind}"));
        assert_eq!(rule["group"], "apps");
        check_rule(rule, &format!("ignore-differences.yaml {kind}"));
    }
    assert!(
        ignore["spec"]["syncPolicy"]["syncOptions"]
            .as_array()
            .is_some_and(|o| o.iter().any(|o| o == "RespectIgnoreDifferences=true"))
    );

    let cm = one("argocd/argocd-cm.yaml");
    assert_eq!(cm["kind"], "ConfigMap");
    assert_eq!(cm["metadata"]["name"], "argocd-cm");
    let data = cm["data"].as_object().expect("argocd-cm data");
    for kind in kinds {
        let key = format!("resource.customizations.ignoreDifferences.apps_{kind}");
        let rule = yaml_docs(
            data.get(&key)
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("argocd-cm: {key}")),
            &key,
        );
        check_rule(&rule[0], &key);
    }
    let (group, _) = istio_rollout::istio::cr::API_VERSION
        .split_once('/')
        .unwrap();
    let key = format!(
        "resource.customizations.health.{group}_{}",
        istio_rollout::istio::cr::KIND
    );
    let lua = data
        .get(&key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("argocd-cm: {key}"));
    for word in [
        "\"Ready\"",
        "\"Warning\"",
        "\"Error\"",
        "\"Healthy\"",
        "\"Progressing\"",
        "\"Degraded\"",
        "return hs",
    ] {
        assert!(lua.contains(word), "the health check handles {word}");
    }
    health_check_runs(lua);
}

/// Runs the Lua health check on sample CRs in an embedded Lua 5.1 (Argo CD's dialect: it runs
/// gopher-lua), with only the libraries Argo CD opens to health checks besides the base one:
/// `table`, `string`, `math`. `obj` is a global, and the script's `return hs` its result.
fn health_check_runs(script: &str) {
    use mlua::{Lua, LuaOptions, StdLib, Table};
    let cases = [
        ("{metadata={generation=1}}", "Progressing"),
        (
            "{metadata={generation=2}, status={state=\"Ready\"}}",
            "Healthy",
        ),
        (
            "{metadata={generation=2}, status={state=\"Processing\"}}",
            "Progressing",
        ),
        (
            "{metadata={generation=2}, status={state=\"Deleting\"}}",
            "Progressing",
        ),
        (
            "{metadata={generation=2}, status={state=\"Error\", description=\"boom\"}}",
            "Degraded",
        ),
        (
            "{metadata={generation=2}, status={state=\"Warning\", description=\"restart pods\"}}",
            "Healthy",
        ),
        (
            "{metadata={generation=3}, status={state=\"Ready\", conditions={{type=\"Ready\", message=\"old\", observedGeneration=2}}}}",
            "Progressing",
        ),
        (
            "{metadata={generation=3}, status={state=\"Ready\", conditions={{type=\"Ready\", message=\"ok\", observedGeneration=3}}}}",
            "Healthy",
        ),
    ];
    for (obj, want) in cases {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::default(),
        )
        .expect("an embedded Lua 5.1");
        let run = || -> mlua::Result<(String, String)> {
            let obj: Table = lua.load(format!("return {obj}")).eval()?;
            lua.globals().set("obj", obj)?;
            let hs: Table = lua.load(script).set_name("argocd-cm health check").eval()?;
            Ok((hs.get("status")?, hs.get("message")?))
        };
        match run() {
            Ok((status, message)) => assert_eq!(
                status, want,
                "health check of {obj}: want {want}, got {status} ({message})"
            ),
            Err(e) => panic!("health check of {obj}: the script fails in Lua 5.1: {e}"),
        }
    }
}

/// The health check above runs in Argo CD's dialect: what Lua 5.2+ added does not parse there.
#[test]
fn the_embedded_lua_is_argo_cds_dialect() {
    let lua = mlua::Lua::new();
    let version: String = lua.load("return _VERSION").eval().unwrap();
    assert_eq!(version, "Lua 5.1");
    assert!(
        lua.load("goto done ::done::").exec().is_err(),
        "goto is Lua 5.2"
    );
}
