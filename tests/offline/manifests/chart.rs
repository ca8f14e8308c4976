//! charts/istio-rollout, rendered with the pinned helm (built from the Go module proxy by
//! `hack/cluster/build-tools.sh`): each `variant` renders exactly the objects of the kustomize
//! base of that name, so every check of manifests/ (jobs, Pod Security, RBAC) holds for the chart.

use crate::common::manifests::*;
use serde_json::Value;
use std::process::Command;

fn by_name(mut objects: Vec<Value>) -> Vec<Value> {
    objects.sort_by_key(name_of);
    objects
}

#[test]
fn each_variant_renders_its_kustomize_base() {
    for variant in CHART_VARIANTS {
        let chart = by_name(helm_template(&[&format!("variant={variant}")]));
        let kustomize = by_name(render(variant));
        let names = |v: &[Value]| v.iter().map(name_of).collect::<Vec<_>>();
        assert_eq!(
            names(&chart),
            names(&kustomize),
            "variant {variant}: the objects"
        );
        for (c, k) in chart.iter().zip(&kustomize) {
            assert_eq!(
                c,
                k,
                "variant {variant}: {} differs from manifests/{variant}",
                name_of(c)
            );
        }
    }
    // The default is the base.
    assert_eq!(by_name(helm_template(&[])), by_name(render("base")));
}

#[test]
fn values_reach_the_jobs_and_a_bad_variant_is_refused() {
    let objects = helm_template(&[
        "variant=cronjob",
        "image.repository=registry.local/istio-rollout",
        "image.tag=1.2.3",
        "git.repo=ssh://git@git.local/ops.git",
        "cronjob.schedule=0 * * * *",
        "apply.noApplyCr=false",
    ]);
    let cron = objects.iter().find(|o| o["kind"] == "CronJob").unwrap();
    assert_eq!(cron["spec"]["schedule"], "0 * * * *");
    let c = &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "registry.local/istio-rollout:1.2.3");
    let env = env_of(c);
    assert_eq!(
        env["ISTIO_ROLLOUT_REPO"]["value"],
        "ssh://git@git.local/ops.git"
    );
    assert!(!env.contains_key("ISTIO_ROLLOUT_NO_APPLY_CR"));
    assert!(args_of(c).contains(&"--strict".to_string()));

    let out = Command::new(helm())
        .args(["template", "x"])
        .arg(repo().join("charts/istio-rollout"))
        .args(["--set", "variant=helmfile"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("variant: \"helmfile\" is none of base, argocd, flux, cronjob, readonly"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // helm's own linter is content with the chart.
    let out = Command::new(helm())
        .args(["lint", "--strict"])
        .arg(repo().join("charts/istio-rollout"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "helm lint: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}
