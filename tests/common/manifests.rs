//! The deployment manifests (`manifests/`) as both test binaries read them: the files, the
//! kustomizations rendered by the test cluster's pinned `kubectl kustomize` (no cluster needed,
//! only its built binaries), Flux's variable substitution, and the parts of Jobs and CronJobs.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The kustomizations under manifests/ (each rendered and dry-run applied).
pub const KUSTOMIZATIONS: [&str; 8] = [
    "base",
    "argocd",
    "flux",
    "cronjob",
    "readonly",
    "gate",
    "argocd-presync",
    "flux-gate",
];
/// Files that are not part of a kustomization on purpose, with what they are.
pub const STANDALONE: [(&str, &str); 9] = [
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
    (
        "flux-gate/flux-kustomization.yaml",
        "the Flux Kustomization of the pre-sync gate (structure only)",
    ),
    (
        "flux-gate/istio-kustomization.yaml",
        "an example Flux Kustomization of the module that dependsOn the gate (structure only)",
    ),
    (
        "monitoring/prometheusrule.yaml",
        "the alert rules of the pushed metrics, a PrometheusRule (promtool check rules)",
    ),
    (
        "monitoring/dashboard.yaml",
        "the Grafana dashboard, a ConfigMap for Grafana's sidecar (expressions by promtool)",
    ),
];

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn manifests() -> PathBuf {
    repo().join("manifests")
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

pub fn yaml_docs(text: &str, what: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .unwrap_or_else(|e| panic!("{what}: not valid YAML: {e}"))
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

pub fn yaml_file(rel: &str) -> Vec<Value> {
    yaml_docs(&read(&manifests().join(rel)), rel)
}

pub fn one(rel: &str) -> Value {
    let mut docs = yaml_file(rel);
    assert_eq!(docs.len(), 1, "{rel}: expected exactly one document");
    docs.remove(0)
}

/// The pinned kubectl of the test cluster (it embeds kustomize).
pub fn kubectl() -> PathBuf {
    pinned_tool(
        "K8S_VERSION",
        "k8s",
        "kubectl",
        "just cluster-build` (or `bash hack/cluster/build.sh",
    )
}

/// The pinned actionlint (`hack/cluster/build-tools.sh`).
#[allow(dead_code)] // the offline binary's only
pub fn actionlint() -> PathBuf {
    pinned_tool(
        "ACTIONLINT_VERSION",
        "actionlint",
        "actionlint",
        "bash hack/cluster/build-tools.sh",
    )
}

/// The chart's variants (`variant` in charts/istio-rollout/values.yaml), each the kustomize base
/// of manifests/ of that name.
pub const CHART_VARIANTS: [&str; 5] = ["base", "argocd", "flux", "cronjob", "readonly"];

/// `helm template` of charts/istio-rollout with `--set` values, parsed.
pub fn helm_template(sets: &[&str]) -> Vec<Value> {
    let mut cmd = Command::new(helm());
    cmd.args(["template", "istio-rollout"])
        .arg(repo().join("charts/istio-rollout"));
    for s in sets {
        cmd.args(["--set", s]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "helm template {sets:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    yaml_docs(&String::from_utf8(out.stdout).unwrap(), "helm template")
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

/// The pinned helm (`hack/cluster/build-tools.sh`).
pub fn helm() -> PathBuf {
    pinned_tool(
        "HELM_VERSION",
        "helm",
        "helm",
        "bash hack/cluster/build-tools.sh",
    )
}

/// The pinned Prometheus (`hack/cluster/build-tools.sh`).
#[allow(dead_code)] // the cluster binary's only
pub fn prometheus() -> PathBuf {
    pinned_tool(
        "PROMETHEUS_MODULE_VERSION",
        "prometheus",
        "prometheus",
        "bash hack/cluster/build-tools.sh",
    )
}

/// The pinned promtool, of the same Prometheus module (`hack/cluster/build-tools.sh`).
#[allow(dead_code)] // the offline binary's only
pub fn promtool() -> PathBuf {
    pinned_tool(
        "PROMETHEUS_MODULE_VERSION",
        "prometheus",
        "promtool",
        "bash hack/cluster/build-tools.sh",
    )
}

/// The pinned Pushgateway (`hack/cluster/build-tools.sh`).
#[allow(dead_code)] // the cluster binary's only
pub fn pushgateway() -> PathBuf {
    pinned_tool(
        "PUSHGATEWAY_VERSION",
        "pushgateway",
        "pushgateway",
        "bash hack/cluster/build-tools.sh",
    )
}

/// `<cache>/<dir>-<version>/bin/<bin>`, the version from `hack/cluster/versions.env`; a missing
/// binary fails the test with the command that builds it.
fn pinned_tool(var: &str, dir: &str, bin: &str, build: &str) -> PathBuf {
    let versions = read(&repo().join("hack/cluster/versions.env"));
    let version = versions
        .lines()
        .find_map(|l| l.strip_prefix(var)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("{var} in hack/cluster/versions.env"))
        .trim();
    let cache = std::env::var_os("ISTIO_ROLLOUT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/istio-rollout")
        });
    let path = cache.join(format!("{dir}-{version}/bin/{bin}"));
    assert!(
        path.is_file(),
        "{} is missing: build it with `{build}`",
        path.display()
    );
    path
}

/// `kubectl kustomize manifests/<dir>`, parsed.
pub fn render(dir: &str) -> Vec<Value> {
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

/// Replaces `${VAR}` the way Flux's post-build substitution does, from the `postBuild.substitute`
/// of `<dir>/flux-kustomization.yaml`. A variable it does not define fails the test.
pub fn flux_substitute_from(dir: &str, objects: Vec<Value>) -> Vec<Value> {
    let vars = flux_vars_of(dir);
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
        "manifests/{dir} uses variables that {dir}/flux-kustomization.yaml does not substitute: {missing:?}"
    );
    serde_json::from_str(&out).unwrap()
}

/// The `postBuild.substitute` variables of `<dir>/flux-kustomization.yaml`.
pub fn flux_vars_of(dir: &str) -> BTreeMap<String, String> {
    let k = one(&format!("{dir}/flux-kustomization.yaml"));
    let subst = k["spec"]["postBuild"]["substitute"]
        .as_object()
        .unwrap_or_else(|| panic!("{dir}/flux-kustomization.yaml: spec.postBuild.substitute"));
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
pub fn rendered(dir: &str) -> Vec<Value> {
    let objects = render(dir);
    if dir == "flux" || dir == "flux-gate" {
        flux_substitute_from(dir, objects)
    } else {
        objects
    }
}

pub fn name_of(o: &Value) -> String {
    format!(
        "{} {}/{}",
        o["kind"].as_str().unwrap_or("?"),
        o["metadata"]["namespace"].as_str().unwrap_or(""),
        o["metadata"]["name"].as_str().unwrap_or("?")
    )
}

pub fn jobs(dir: &str) -> Vec<Value> {
    rendered(dir)
        .into_iter()
        .filter(|o| matches!(o["kind"].as_str(), Some("Job" | "CronJob")))
        .collect()
}

/// The spec of the Job (for a CronJob: of its jobTemplate).
pub fn job_spec(o: &Value) -> &Value {
    match o["kind"].as_str() {
        Some("CronJob") => &o["spec"]["jobTemplate"]["spec"],
        _ => &o["spec"],
    }
}

pub fn the_container(o: &Value) -> &Value {
    let containers = job_spec(o)["template"]["spec"]["containers"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: no containers", name_of(o)));
    assert_eq!(containers.len(), 1, "{}: one container", name_of(o));
    &containers[0]
}

pub fn env_of(container: &Value) -> BTreeMap<String, Value> {
    container["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| (e["name"].as_str().unwrap().to_string(), e.clone()))
                .collect()
        })
        .unwrap_or_default()
}

pub fn args_of(container: &Value) -> Vec<String> {
    container["args"]
        .as_array()
        .expect("the container has args")
        .iter()
        .map(|a| a.as_str().expect("args are strings").to_string())
        .collect()
}
