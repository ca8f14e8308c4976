//! The deployment manifests (`manifests/`) and the pull-request workflow example
//! (`examples/github-actions/`), checked for real:
//!
//! - every kustomization is rendered with the test cluster's `kubectl kustomize` and every object
//!   is server-side applied as a dry run with strict field validation (an unknown field or a typo
//!   fails); `manifests/base` is applied for real first, as the apply tests do;
//! - the pod template of every Job and CronJob is dry-run created as a Pod in the `istio-rollout`
//!   namespace, whose Pod Security level `restricted` is enforced (a privileged control pod proves
//!   the admission plugin is on);
//! - the container command of every Job runs the real binary, with the manifest's arguments and
//!   environment, as the ServiceAccount of `manifests/base`, with `--dry-run`;
//! - the RBAC of `manifests/base` and `manifests/readonly` is checked with SubjectAccessReviews
//!   against what the code calls, and `plan`/`snapshot` run as an identity with only the
//!   read-only role;
//! - Argo CD and Flux objects (Application, Kustomization, the argocd-cm snippet) cannot be sent
//!   to this cluster (no such CRDs): their structure and their agreement with the Jobs are
//!   asserted here instead.

mod common;

use istio_rollout_testenv::Cluster;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Scope};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const MANAGER: &str = "istio-rollout-manifests-test";
const NAMESPACE: &str = "istio-rollout";
const SERVICE_ACCOUNT: &str = "system:serviceaccount:istio-rollout:istio-rollout";
/// The kustomizations under manifests/ (each rendered and dry-run applied).
const KUSTOMIZATIONS: [&str; 5] = ["base", "argocd", "flux", "cronjob", "readonly"];
/// Files that are not part of a kustomization on purpose, with what they are.
const STANDALONE: [(&str, &str); 5] = [
    (
        "crd/istios.operator.kyma-project.io.yaml",
        "the Istio CRD (dry-run applied)",
    ),
    (
        "argocd/application.yaml",
        "an Argo CD Application (structure only)",
    ),
    (
        "argocd/ignore-differences.yaml",
        "a snippet of an Argo CD Application (structure only)",
    ),
    (
        "argocd/argocd-cm.yaml",
        "a snippet to merge into argocd-cm (structure only)",
    ),
    (
        "flux/flux-kustomization.yaml",
        "a Flux Kustomization (structure only)",
    ),
];
const WORKFLOW: &str = "examples/github-actions/istio-rollout-plan.yaml";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn manifests() -> PathBuf {
    repo().join("manifests")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn yaml_docs(text: &str, what: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .unwrap_or_else(|e| panic!("{what}: not valid YAML: {e}"))
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn yaml_file(rel: &str) -> Vec<Value> {
    yaml_docs(&read(&manifests().join(rel)), rel)
}

fn one(rel: &str) -> Value {
    let mut docs = yaml_file(rel);
    assert_eq!(docs.len(), 1, "{rel}: expected exactly one document");
    docs.remove(0)
}

/// The pinned kubectl of the test cluster (it embeds kustomize).
fn kubectl() -> PathBuf {
    let versions = read(&repo().join("hack/cluster/versions.env"));
    let version = versions
        .lines()
        .find_map(|l| l.strip_prefix("K8S_VERSION="))
        .expect("K8S_VERSION in hack/cluster/versions.env")
        .trim();
    let cache = std::env::var_os("ISTIO_ROLLOUT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/istio-rollout")
        });
    let path = cache.join(format!("k8s-{version}/bin/kubectl"));
    assert!(
        path.is_file(),
        "{} is missing: build the test cluster's binaries with `just cluster-build` \
         (or `bash hack/cluster/build.sh`)",
        path.display()
    );
    path
}

/// `kubectl kustomize manifests/<dir>`, parsed.
fn render(dir: &str) -> Vec<Value> {
    let out = Command::new(kubectl())
        .arg("kustomize")
        .arg(manifests().join(dir))
        .output()
        .expect("running kubectl kustomize");
    assert!(
        out.status.success(),
        "kubectl kustomize manifests/{dir} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = yaml_docs(
        &String::from_utf8(out.stdout).unwrap(),
        &format!("kustomize output of manifests/{dir}"),
    );
    assert!(!docs.is_empty(), "manifests/{dir} renders no object");
    docs
}

/// Replaces `${VAR}` the way Flux's post-build substitution does, from the Flux Kustomization's
/// `postBuild.substitute`. A variable it does not define fails the test.
fn flux_substitute(objects: Vec<Value>) -> Vec<Value> {
    let vars = flux_vars();
    let text = serde_json::to_string(&objects).unwrap();
    let re = regex::Regex::new(r"\$\{([^}]*)\}").unwrap();
    let mut missing = BTreeSet::new();
    let out = re.replace_all(&text, |c: &regex::Captures| match vars.get(&c[1]) {
        Some(v) => v.clone(),
        None => {
            missing.insert(c[1].to_string());
            String::new()
        }
    });
    assert!(
        missing.is_empty(),
        "manifests/flux uses variables that flux/flux-kustomization.yaml does not substitute: {missing:?}"
    );
    serde_json::from_str(&out).unwrap()
}

fn flux_vars() -> BTreeMap<String, String> {
    let k = one("flux/flux-kustomization.yaml");
    let subst = k["spec"]["postBuild"]["substitute"]
        .as_object()
        .expect("flux-kustomization.yaml: spec.postBuild.substitute");
    subst
        .iter()
        .map(|(k, v)| {
            let v = v
                .as_str()
                .unwrap_or_else(|| panic!("postBuild.substitute.{k} must be a string"));
            assert!(
                regex::Regex::new(r"^[_A-Za-z][_A-Za-z0-9]*$")
                    .unwrap()
                    .is_match(k),
                "postBuild.substitute: {k} is not a valid Flux variable name"
            );
            (k.clone(), v.to_string())
        })
        .collect()
}

/// The rendered objects of a kustomization, with Flux variables substituted for `flux`.
fn rendered(dir: &str) -> Vec<Value> {
    let objects = render(dir);
    if dir == "flux" {
        flux_substitute(objects)
    } else {
        objects
    }
}

fn name_of(o: &Value) -> String {
    format!(
        "{} {}/{}",
        o["kind"].as_str().unwrap_or("?"),
        o["metadata"]["namespace"].as_str().unwrap_or(""),
        o["metadata"]["name"].as_str().unwrap_or("?")
    )
}

async fn api_for(client: &kube::Client, o: &Value) -> Api<DynamicObject> {
    let api_version = o["apiVersion"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: no apiVersion", name_of(o)));
    let kind = o["kind"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: no kind", name_of(o)));
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (ar, caps) = discovery::pinned_kind(client, &gvk)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{}: the API server does not serve {api_version} {kind}: {e}",
                name_of(o)
            )
        });
    match (caps.scope, o["metadata"]["namespace"].as_str()) {
        (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, &ar),
        (Scope::Namespaced, None) => panic!("{}: namespaced kind without a namespace", name_of(o)),
        (Scope::Cluster, None) => Api::all_with(client.clone(), &ar),
        (Scope::Cluster, Some(_)) => panic!("{}: cluster-scoped kind with a namespace", name_of(o)),
    }
}

/// Server-side apply as a dry run, with strict field validation: unknown or duplicate fields
/// are errors, not warnings.
async fn dry_run(client: &kube::Client, o: &Value, from: &str) {
    let api = api_for(client, o).await;
    let name = o["metadata"]["name"]
        .as_str()
        .unwrap_or_else(|| panic!("{from}: {}: no metadata.name", name_of(o)));
    let mut pp = PatchParams::apply(MANAGER).dry_run().force();
    pp.field_validation = Some(kube::api::ValidationDirective::Strict);
    api.patch(name, &pp, &Patch::Apply(o))
        .await
        .unwrap_or_else(|e| panic!("{from}: the API server rejects {}: {e}", name_of(o)));
}

/// The pod templates of the Jobs and CronJobs among `objects`, with where they come from.
fn pod_templates(objects: &[Value]) -> Vec<(String, Value)> {
    objects
        .iter()
        .filter_map(|o| match o["kind"].as_str() {
            Some("Job") => Some((name_of(o), o["spec"]["template"].clone())),
            Some("CronJob") => Some((
                name_of(o),
                o["spec"]["jobTemplate"]["spec"]["template"].clone(),
            )),
            _ => None,
        })
        .collect()
}

fn jobs(dir: &str) -> Vec<Value> {
    rendered(dir)
        .into_iter()
        .filter(|o| matches!(o["kind"].as_str(), Some("Job" | "CronJob")))
        .collect()
}

/// The spec of the Job (for a CronJob: of its jobTemplate).
fn job_spec(o: &Value) -> &Value {
    match o["kind"].as_str() {
        Some("CronJob") => &o["spec"]["jobTemplate"]["spec"],
        _ => &o["spec"],
    }
}

fn the_container(o: &Value) -> &Value {
    let containers = job_spec(o)["template"]["spec"]["containers"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: no containers", name_of(o)));
    assert_eq!(containers.len(), 1, "{}: one container", name_of(o));
    &containers[0]
}

fn env_of(container: &Value) -> BTreeMap<String, Value> {
    container["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| (e["name"].as_str().unwrap().to_string(), e.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn env_value(container: &Value, name: &str) -> Option<String> {
    env_of(container)
        .get(name)
        .and_then(|e| e["value"].as_str().map(String::from))
}

fn args_of(container: &Value) -> Vec<String> {
    container["args"]
        .as_array()
        .expect("the container has args")
        .iter()
        .map(|a| a.as_str().expect("args are strings").to_string())
        .collect()
}

fn seconds(duration: &str) -> u64 {
    humantime::parse_duration(duration)
        .unwrap_or_else(|e| panic!("{duration}: {e}"))
        .as_secs()
}

fn is_strings(v: &Value) -> bool {
    v.as_array()
        .is_some_and(|a| a.iter().all(Value::is_string) && !a.is_empty())
}

// ---------------------------------------------------------------------------------------------
// No cluster needed.
// ---------------------------------------------------------------------------------------------

/// Every YAML file under manifests/ parses, and is either used by a kustomization or one of the
/// standalone files this test knows about: nothing escapes the checks below.
#[test]
fn every_manifest_file_is_checked() {
    let mut used = BTreeSet::new();
    for dir in KUSTOMIZATIONS {
        let k = one(&format!("{dir}/kustomization.yaml"));
        assert_eq!(k["kind"], "Kustomization", "{dir}/kustomization.yaml");
        for r in k["resources"].as_array().expect("resources") {
            let r = r.as_str().unwrap();
            if !r.starts_with("..") {
                used.insert(format!("{dir}/{r}"));
            }
        }
        used.insert(format!("{dir}/kustomization.yaml"));
    }
    let known: BTreeSet<String> = STANDALONE.iter().map(|(f, _)| f.to_string()).collect();
    let mut stack = vec![manifests()];
    let mut seen = 0;
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(manifests())
                .unwrap()
                .to_string_lossy()
                .to_string();
            assert!(
                rel.ends_with(".yaml"),
                "manifests/{rel}: only .yaml files belong here"
            );
            for doc in yaml_docs(&read(&path), &rel) {
                assert!(
                    doc["apiVersion"].is_string() && doc["kind"].is_string(),
                    "manifests/{rel}: every document needs apiVersion and kind"
                );
            }
            assert!(
                used.contains(&rel) || known.contains(&rel),
                "manifests/{rel} is neither in a kustomization of {KUSTOMIZATIONS:?} nor one of the \
                 standalone files tests/manifests.rs checks; add it to one of them"
            );
            seen += 1;
        }
    }
    assert_eq!(seen, used.len() + known.len(), "a listed file is missing");
}

/// What the issue asks of every Job: no sidecar, non-root, read-only root filesystem, no
/// privilege escalation, requests, no retries, a deadline beyond the tool's own timeouts, a
/// writable /tmp, and only environment variables the CLI knows.
#[test]
fn jobs_follow_the_rules() {
    let help = Command::new(assert_cmd::cargo::cargo_bin("istio-rollout"))
        .args(["apply", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let known_env = |name: &str| {
        help.contains(&format!("[env: {name}="))
            || name == istio_rollout::desired::git::TOKEN_ENV
            || name == istio_rollout::desired::git::SSH_KEY_ENV
    };
    let mut checked = 0;
    for dir in ["argocd", "flux", "cronjob"] {
        let found = jobs(dir);
        assert_eq!(
            found.len(),
            1,
            "manifests/{dir}: exactly one Job or CronJob"
        );
        for o in &found {
            let what = format!("manifests/{dir}: {}", name_of(o));
            let spec = job_spec(o);
            let pod = &spec["template"];
            assert_eq!(spec["backoffLimit"], 0, "{what}: backoffLimit");
            assert!(
                spec.get("ttlSecondsAfterFinished").is_none() || dir == "cronjob",
                "{what}: no ttlSecondsAfterFinished (Flux would recreate the Job, Argo CD deletes hooks itself)"
            );
            assert_eq!(
                pod["metadata"]["labels"]["sidecar.istio.io/inject"], "false",
                "{what}: no sidecar"
            );
            let ps = &pod["spec"];
            assert_eq!(ps["serviceAccountName"], "istio-rollout", "{what}");
            assert_eq!(ps["restartPolicy"], "Never", "{what}");
            assert_eq!(ps["securityContext"]["runAsNonRoot"], true, "{what}");
            assert!(
                ps["securityContext"]["runAsUser"]
                    .as_u64()
                    .is_some_and(|u| u > 0),
                "{what}: runAsUser"
            );
            let c = the_container(o);
            let sc = &c["securityContext"];
            assert_eq!(sc["readOnlyRootFilesystem"], true, "{what}");
            assert_eq!(sc["allowPrivilegeEscalation"], false, "{what}");
            assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{what}");
            for r in ["cpu", "memory"] {
                assert!(
                    c["resources"]["requests"][r].is_string(),
                    "{what}: requests.{r}"
                );
            }
            // A writable /tmp for the fetched repository, and TMPDIR pointing at it.
            let tmp = c["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["mountPath"] == "/tmp")
                .unwrap_or_else(|| panic!("{what}: /tmp is mounted"));
            let volume = ps["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"] == tmp["name"])
                .unwrap();
            assert!(
                volume["emptyDir"].is_object(),
                "{what}: /tmp is an emptyDir"
            );
            assert_eq!(env_value(c, "TMPDIR").as_deref(), Some("/tmp"), "{what}");
            // The deadline covers the tool's overall timeout.
            let args = args_of(c);
            assert_eq!(args[0], "apply", "{what}");
            let overall = args
                .iter()
                .find_map(|a| a.strip_prefix("--overall-timeout="))
                .unwrap_or_else(|| panic!("{what}: --overall-timeout=... is explicit"));
            let deadline = spec["activeDeadlineSeconds"]
                .as_u64()
                .unwrap_or_else(|| panic!("{what}: activeDeadlineSeconds"));
            assert!(
                deadline > seconds(overall),
                "{what}: activeDeadlineSeconds {deadline} must exceed --overall-timeout {overall}"
            );
            for name in env_of(c).keys() {
                if name.starts_with("ISTIO_ROLLOUT_") {
                    assert!(
                        known_env(name),
                        "{what}: {name} is not an environment variable of istio-rollout apply"
                    );
                }
            }
            for required in ["ISTIO_ROLLOUT_REPO", "ISTIO_ROLLOUT_PATH"] {
                assert!(env_value(c, required).is_some(), "{what}: {required}");
            }
            // HTTPS token from the Secret, optional so that public repositories need none.
            let token = &env_of(c)[istio_rollout::desired::git::TOKEN_ENV];
            assert_eq!(
                token["valueFrom"]["secretKeyRef"]["optional"], true,
                "{what}: the token is optional"
            );
            // SSH: known_hosts is read from $HOME/.ssh, where the Secret is mounted.
            let home = env_value(c, "HOME").unwrap_or_else(|| panic!("{what}: HOME"));
            let ssh_key = env_value(c, istio_rollout::desired::git::SSH_KEY_ENV).unwrap();
            assert!(
                ssh_key.starts_with(&format!("{home}/.ssh/")),
                "{what}: the SSH key lives next to known_hosts in $HOME/.ssh"
            );
            assert!(
                c["volumeMounts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["mountPath"] == format!("{home}/.ssh")),
                "{what}: the git Secret is mounted at $HOME/.ssh"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 3);

    // Variant specifics.
    let argo = &jobs("argocd")[0];
    let a = &argo["metadata"]["annotations"];
    assert_eq!(a["argocd.argoproj.io/hook"], "PostSync");
    assert!(
        a["argocd.argoproj.io/hook-delete-policy"]
            .as_str()
            .is_some_and(|p| p.split(',').all(|p| [
                "BeforeHookCreation",
                "HookSucceeded",
                "HookFailed"
            ]
            .contains(&p))),
        "Argo CD: a known hook delete policy"
    );
    assert!(
        a["argocd.argoproj.io/sync-wave"]
            .as_str()
            .is_some_and(|w| w.parse::<i64>().is_ok()),
        "Argo CD: sync-wave is an integer in a string"
    );

    let cron = &jobs("cronjob")[0];
    assert_eq!(cron["kind"], "CronJob");
    assert_eq!(cron["spec"]["concurrencyPolicy"], "Forbid");
    assert!(
        args_of(the_container(cron)).contains(&"--strict".to_string()),
        "the CronJob reports manual entries with --strict (exit 4)"
    );

    // Flux: the desired version sits in the (immutable) pod template, substituted by Flux.
    let raw = one("flux/job.yaml");
    let annotations = raw["spec"]["template"]["metadata"]["annotations"]
        .as_object()
        .expect("flux/job.yaml: pod template annotations");
    let vars = flux_vars();
    for var in vars.keys() {
        assert!(
            annotations
                .values()
                .any(|v| v.as_str() == Some(&format!("${{{var}}}"))),
            "flux/job.yaml: the pod template carries ${{{var}}}, so a change re-runs the Job"
        );
    }
    let flux = &jobs("flux")[0];
    assert!(
        !serde_json::to_string(flux).unwrap().contains("${"),
        "everything substituted"
    );
}

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

/// Runs the Lua health check on sample CRs (Argo CD runs Lua 5.1 semantics; the script uses
/// nothing newer). Without a Lua interpreter the test fails and says how to get one.
fn health_check_runs(lua: &str) {
    let Some(interpreter) = ["lua5.1", "lua5.4", "lua5.3", "lua", "luajit"]
        .into_iter()
        .find(|l| Command::new(l).arg("-v").output().is_ok())
    else {
        panic!(
            "no Lua interpreter on PATH to run the Argo CD health check: apt-get install lua5.4"
        );
    };
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
        let program = format!(
            "obj = {obj}\nlocal check = function()\n{lua}\nend\nlocal hs = check()\nio.write(hs.status, '|', hs.message)\n"
        );
        let mut child = Command::new(interpreter)
            .arg("-")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(program.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.starts_with(&format!("{want}|")),
            "health check of {obj}: want {want}, got `{stdout}` {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn flux_kustomization_has_its_required_fields() {
    let k = one("flux/flux-kustomization.yaml");
    assert_eq!(k["apiVersion"], "kustomize.toolkit.fluxcd.io/v1");
    assert_eq!(k["kind"], "Kustomization");
    assert!(k["metadata"]["name"].is_string() && k["metadata"]["namespace"].is_string());
    let spec = &k["spec"];
    // Required by the v1 API: interval, prune, sourceRef.{kind,name}.
    assert!(spec["interval"].is_string(), "spec.interval");
    assert!(spec["prune"].is_boolean(), "spec.prune");
    assert!(
        ["GitRepository", "OCIRepository", "Bucket"]
            .iter()
            .any(|s| spec["sourceRef"]["kind"] == *s)
            && spec["sourceRef"]["name"].is_string(),
        "spec.sourceRef"
    );
    seconds(spec["interval"].as_str().unwrap());
    assert!(
        spec["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("manifests/flux")),
        "spec.path is the istio-rollout Flux kustomization"
    );
    assert!(
        spec["dependsOn"]
            .as_array()
            .is_some_and(|d| !d.is_empty() && d.iter().all(|d| d["name"].is_string())),
        "spec.dependsOn names the Kustomization that applies the Istio CR"
    );
    assert_eq!(
        spec["wait"], true,
        "spec.wait: the Job's result is the Kustomization's health"
    );
    assert_eq!(
        spec["force"], true,
        "spec.force: recreate the Job when its template changes"
    );
    let timeout = seconds(spec["timeout"].as_str().expect("spec.timeout"));
    let job = &jobs("flux")[0];
    let deadline = job["spec"]["activeDeadlineSeconds"].as_u64().unwrap();
    assert!(
        timeout > deadline,
        "spec.timeout ({timeout}s) must outlast the Job's activeDeadlineSeconds ({deadline}s)"
    );
    assert!(!flux_vars().is_empty());
}

/// The pull-request workflow: only actions/checkout and `gh`, shell steps that parse, no
/// `${{ }}` expansion inside scripts (values go through env), one marker to find the comment
/// again, and the plan in markdown with its exit code.
#[test]
fn pull_request_workflow_is_sound() {
    let path = repo().join(WORKFLOW);
    let text = read(&path);
    let wf = yaml_docs(&text, WORKFLOW).remove(0);
    assert!(
        wf["on"]["pull_request"].is_object(),
        "{WORKFLOW}: runs on pull_request (quote the `on` key: YAML 1.1 reads it as a boolean)"
    );
    assert_eq!(wf["permissions"]["pull-requests"], "write");
    let jobs = wf["jobs"].as_object().expect("jobs");
    let mut scripts = String::new();
    for (name, job) in jobs {
        assert!(job["runs-on"].is_string(), "job {name}: runs-on");
        for step in job["steps"].as_array().expect("steps") {
            if let Some(uses) = step["uses"].as_str() {
                assert!(
                    uses.starts_with("actions/checkout@"),
                    "job {name}: {uses}: only actions/checkout is used; the rest is gh and docker"
                );
                continue;
            }
            let run = step["run"]
                .as_str()
                .unwrap_or_else(|| panic!("job {name}: a step without uses or run"));
            assert!(
                !run.contains("${{"),
                "job {name}, step {}: pass values through env, not ${{{{ }}}} in the script",
                step["name"]
            );
            let out = Command::new("bash")
                .args(["-n", "-c", run])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "job {name}, step {}: bash -n: {}",
                step["name"],
                String::from_utf8_lossy(&out.stderr)
            );
            scripts.push_str(run);
        }
    }
    let env = &jobs["plan"]["env"];
    let marker = env["MARKER"].as_str().expect("env MARKER");
    assert!(
        marker.starts_with("<!--") && marker.ends_with("-->"),
        "the marker is hidden"
    );
    for needle in [
        "plan --repo",
        "--output markdown",
        "--live-state",
        "--kubeconfig",
        "startswith(\\\"$MARKER\\\")",
        "--method PATCH",
        "--method POST",
        "echo \"$MARKER\"",
        "exit-code=",
    ] {
        assert!(
            scripts.contains(needle),
            "{WORKFLOW}: the scripts use `{needle}`"
        );
    }
    // The live-state file and the paths the workflow triggers on agree.
    let live = env["LIVE_STATE"].as_str().unwrap();
    let istio_path = env["ISTIO_PATH"].as_str().unwrap();
    let paths = wf["on"]["pull_request"]["paths"].as_array().unwrap();
    assert!(paths.iter().any(|p| p == live));
    assert!(
        paths
            .iter()
            .any(|p| p == &json!(format!("{istio_path}/**")))
    );
}

// ---------------------------------------------------------------------------------------------
// Against the test cluster.
// ---------------------------------------------------------------------------------------------

/// Applies manifests/base for real (as the apply tests do), so the namespace, ServiceAccount
/// and RBAC exist for the dry runs and the runs below.
async fn apply_base(client: &kube::Client) {
    common::cluster::apply_dir(client, &manifests().join("base")).await;
}

#[tokio::test]
async fn every_manifest_is_accepted_by_the_api_server() {
    let cluster = Cluster::shared();
    let client = cluster.client().await.unwrap();
    apply_base(&client).await;

    let mut pods = Vec::new();
    for dir in KUSTOMIZATIONS {
        let objects = rendered(dir);
        for o in &objects {
            dry_run(&client, o, &format!("manifests/{dir}")).await;
        }
        pods.extend(pod_templates(&objects));
    }
    for (file, what) in STANDALONE {
        if what.contains("dry-run") {
            for o in yaml_file(file) {
                dry_run(&client, &o, &format!("manifests/{file}")).await;
            }
        }
    }
    assert_eq!(pods.len(), 3, "the Argo CD, Flux and CronJob pod templates");

    // Pod Security admission enforces "restricted" in the namespace: a privileged pod is turned
    // away (so the check below means something), each template's pod is not.
    let pod_api: Api<DynamicObject> = api_for(
        &client,
        &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": NAMESPACE}}),
    )
    .await;
    let pp = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let privileged: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "privileged-control", "namespace": NAMESPACE},
        "spec": {"containers": [{"name": "c", "image": "busybox",
                                  "securityContext": {"privileged": true}}]}
    }))
    .unwrap();
    let err = pod_api
        .create(&pp, &privileged)
        .await
        .expect_err("a privileged pod must be rejected in the istio-rollout namespace");
    assert!(
        err.to_string().contains("PodSecurity") || err.to_string().contains("violates"),
        "rejected by Pod Security admission: {err}"
    );
    for (i, (from, template)) in pods.into_iter().enumerate() {
        let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
                             "metadata": template["metadata"].clone(), "spec": template["spec"].clone()});
        pod["metadata"]["name"] = json!(format!("template-{i}"));
        pod["metadata"]["namespace"] = json!(NAMESPACE);
        let pod: DynamicObject = serde_json::from_value(pod).unwrap();
        pod_api.create(&pp, &pod).await.unwrap_or_else(|e| {
            panic!("{from}: its pod is rejected in namespace {NAMESPACE}: {e}")
        });
    }
}

async fn allowed(client: &kube::Client, user: &str, attrs: ResourceAttributes) -> bool {
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.to_string()),
            groups: Some(vec![
                "system:serviceaccounts".into(),
                "system:authenticated".into(),
            ]),
            resource_attributes: Some(attrs),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<SubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .unwrap()
        .status
        .unwrap()
        .allowed
}

fn attrs(verb: &str, group: &str, resource: &str, ns: Option<&str>) -> ResourceAttributes {
    let (resource, subresource) = match resource.split_once('/') {
        Some((r, s)) => (r, Some(s.to_string())),
        None => (resource, None),
    };
    ResourceAttributes {
        verb: Some(verb.into()),
        group: Some(group.into()),
        resource: Some(resource.into()),
        subresource,
        namespace: ns.map(String::from),
        ..Default::default()
    }
}

/// What the code calls (src/live/cluster.rs, src/apply/k8s.rs): cluster-wide lists of
/// everything the planner reads, namespaced lists of the control plane (the operator wait's
/// `read_operator_view`), the mesh ConfigMap, gets of workloads and pods, server-side apply
/// (patch, and create for a CR that does not exist yet), evictions and events.
const USED: [(&str, &str, &str, bool); 26] = [
    // (verb, group, resource, cluster-wide)
    ("list", "operator.kyma-project.io", "istios", true),
    ("patch", "operator.kyma-project.io", "istios", false),
    ("create", "operator.kyma-project.io", "istios", false),
    ("list", "apps", "deployments", true),
    ("list", "apps", "statefulsets", true),
    ("list", "apps", "daemonsets", true),
    ("list", "apps", "replicasets", true),
    ("list", "", "replicationcontrollers", true),
    ("list", "batch", "jobs", true),
    ("list", "batch", "cronjobs", true),
    ("list", "policy", "poddisruptionbudgets", true),
    ("list", "", "pods", true),
    ("list", "apps", "deployments", false),
    ("list", "apps", "daemonsets", false),
    ("list", "", "pods", false),
    ("get", "apps", "deployments", false),
    ("get", "apps", "statefulsets", false),
    ("get", "apps", "daemonsets", false),
    ("get", "apps", "replicasets", false),
    ("get", "", "replicationcontrollers", false),
    ("get", "", "pods", false),
    ("patch", "apps", "deployments", false),
    ("patch", "apps", "statefulsets", false),
    ("patch", "apps", "daemonsets", false),
    ("create", "", "pods/eviction", false),
    ("create", "events.k8s.io", "events", false),
];

/// What it must never be able to do.
const NEVER: [(&str, &str, &str); 14] = [
    ("delete", "", "pods"),
    ("deletecollection", "", "pods"),
    ("update", "apps", "deployments"),
    ("delete", "apps", "deployments"),
    ("create", "apps", "deployments"),
    ("patch", "apps", "replicasets"),
    ("delete", "operator.kyma-project.io", "istios"),
    ("update", "operator.kyma-project.io", "istios"),
    ("get", "", "secrets"),
    ("list", "", "secrets"),
    ("list", "", "configmaps"),
    ("create", "", "pods/exec"),
    ("patch", "", "nodes"),
    ("create", "rbac.authorization.k8s.io", "clusterroles"),
];

#[tokio::test]
async fn rbac_is_exactly_what_the_tool_uses() {
    let cluster = Cluster::shared();
    let client = cluster.client().await.unwrap();
    apply_base(&client).await;

    // No wildcards anywhere, and nothing beyond the table above.
    let role = one("base/clusterrole.yaml");
    let mut granted = BTreeSet::new();
    for rule in role["rules"].as_array().unwrap() {
        for key in ["apiGroups", "resources", "verbs"] {
            assert!(
                is_strings(&rule[key]) && !rule[key].as_array().unwrap().iter().any(|v| v == "*"),
                "clusterrole.yaml: {key} must list names, no wildcards: {rule}"
            );
        }
        for g in rule["apiGroups"].as_array().unwrap() {
            for r in rule["resources"].as_array().unwrap() {
                for v in rule["verbs"].as_array().unwrap() {
                    granted.insert((
                        v.as_str().unwrap().to_string(),
                        g.as_str().unwrap().to_string(),
                        r.as_str().unwrap().to_string(),
                    ));
                }
            }
        }
    }
    let mut used: BTreeSet<(String, String, String)> = USED
        .iter()
        .map(|(v, g, r, _)| (v.to_string(), g.to_string(), r.to_string()))
        .collect();
    // kube's event recorder patches an event it has sent before (a series).
    used.insert(("patch".into(), "events.k8s.io".into(), "events".into()));
    // The mesh ConfigMap, by name.
    used.insert(("get".into(), "".into(), "configmaps".into()));
    let extra: Vec<_> = granted.difference(&used).collect();
    assert!(
        extra.is_empty(),
        "clusterrole.yaml grants what the tool never uses: {extra:?}"
    );

    let mut denied = Vec::new();
    for (verb, group, resource, cluster_wide) in USED {
        let ns = (!cluster_wide).then_some("some-namespace");
        if !allowed(&client, SERVICE_ACCOUNT, attrs(verb, group, resource, ns)).await {
            denied.push(format!("{verb} {resource}.{group}"));
        }
    }
    let mut cm = attrs("get", "", "configmaps", Some("istio-system"));
    cm.name = Some("istio".into());
    if !allowed(&client, SERVICE_ACCOUNT, cm).await {
        denied.push("get configmaps istio-system/istio".into());
    }
    assert!(denied.is_empty(), "the ServiceAccount lacks: {denied:?}");

    let mut too_much = Vec::new();
    for (verb, group, resource) in NEVER {
        if allowed(
            &client,
            SERVICE_ACCOUNT,
            attrs(verb, group, resource, Some("default")),
        )
        .await
        {
            too_much.push(format!("{verb} {resource}.{group}"));
        }
    }
    let mut other_cm = attrs("get", "", "configmaps", Some("istio-system"));
    other_cm.name = Some("sim-injector".into());
    if allowed(&client, SERVICE_ACCOUNT, other_cm).await {
        too_much.push("get configmaps other than istio".into());
    }
    assert!(too_much.is_empty(), "the ServiceAccount may: {too_much:?}");
}

/// Every Job's command, as its manifest says (arguments and environment), with only the
/// repository pointed at this checkout and `--dry-run`, runs as the ServiceAccount of
/// manifests/base: the flags and variables parse and the permissions suffice to plan.
#[tokio::test]
async fn job_commands_run_as_the_service_account() {
    let cluster = Cluster::shared();
    let client = cluster.client().await.unwrap();
    // The plan depends on the simulated Istio's versions: hold it at its defaults.
    let _sim = cluster.sim().await.unwrap();
    apply_base(&client).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = cluster
        .kubeconfig_as(NAMESPACE, "istio-rollout", dir.path())
        .await
        .unwrap();
    for variant in ["argocd", "flux", "cronjob"] {
        let job = &jobs(variant)[0];
        let c = the_container(job);
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("istio-rollout"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        for (name, e) in env_of(c) {
            if let Some(v) = e["value"].as_str() {
                cmd.env(&name, v);
            }
        }
        // This checkout instead of the example URL; its HEAD holds examples/gitops/istio.
        cmd.env("ISTIO_ROLLOUT_REPO", repo())
            .env_remove("ISTIO_ROLLOUT_REF")
            .env("ISTIO_ROLLOUT_PATH", "examples/gitops/istio")
            .env("HOME", dir.path())
            .env("TMPDIR", dir.path());
        cmd.args(args_of(c))
            .arg("--dry-run")
            .arg("--kubeconfig")
            .arg(&kubeconfig);
        let out = cmd.output().unwrap();
        let code = out.status.code();
        assert!(
            matches!(code, Some(0 | 1)),
            "manifests/{variant}: the Job's command exits {code:?}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Plan:"),
            "manifests/{variant}: a plan on stdout"
        );
    }
}

/// manifests/readonly is enough for `plan` and `snapshot` against the cluster, and no more.
#[tokio::test]
async fn read_only_role_plans_and_snapshots() {
    let cluster = Cluster::shared();
    let client = cluster.client().await.unwrap();
    let _sim = cluster.sim().await.unwrap();
    let ns = cluster.namespace("readonly", false).await.unwrap();
    for o in rendered("readonly") {
        let api = api_for(&client, &o).await;
        api.patch(
            o["metadata"]["name"].as_str().unwrap(),
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&o),
        )
        .await
        .unwrap();
    }
    let binding_name = format!("istio-rollout-read-{}", ns.name());
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": binding_name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "istio-rollout-read"},
        "subjects": [{"kind": "ServiceAccount", "name": "pr-check", "namespace": ns.name()}]
    });
    let bindings = api_for(&client, &binding).await;
    bindings
        .patch(
            &binding_name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&binding),
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = cluster
        .kubeconfig_as(ns.name(), "pr-check", dir.path())
        .await
        .unwrap();
    let user = format!("system:serviceaccount:{}:pr-check", ns.name());
    let result = async {
        // RBAC bindings take effect at once in the authorizer; no wait needed.
        let plan = Command::new(assert_cmd::cargo::cargo_bin("istio-rollout"))
            .args([
                "plan",
                "--path",
                "examples/gitops/istio",
                "--output",
                "markdown",
            ])
            .arg("--repo")
            .arg(repo())
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .output()
            .unwrap();
        let snapshot = Command::new(assert_cmd::cargo::cargo_bin("istio-rollout"))
            .arg("snapshot")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .output()
            .unwrap();
        let mut may_write = Vec::new();
        for (verb, group, resource) in [
            ("patch", "apps", "deployments"),
            ("patch", "operator.kyma-project.io", "istios"),
            ("create", "", "pods/eviction"),
            ("get", "", "secrets"),
        ] {
            if allowed(
                &client,
                &user,
                attrs(verb, group, resource, Some("default")),
            )
            .await
            {
                may_write.push(format!("{verb} {resource}.{group}"));
            }
        }
        (plan, snapshot, may_write)
    }
    .await;
    bindings
        .delete(&binding_name, &DeleteParams::default())
        .await
        .unwrap();
    let (plan, snapshot, may_write) = result;
    assert!(
        matches!(plan.status.code(), Some(0 | 1)),
        "plan with the read-only role exits {:?}: {}",
        plan.status.code(),
        String::from_utf8_lossy(&plan.stderr)
    );
    assert!(
        snapshot.status.success(),
        "snapshot with the read-only role: {}",
        String::from_utf8_lossy(&snapshot.stderr)
    );
    assert!(
        may_write.is_empty(),
        "the read-only role may: {may_write:?}"
    );
}
