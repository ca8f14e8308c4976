//! FIPS images and `image-rebuild`: the same Istio version in another build of the image.

use super::*;
use crate::live::convert::module_release;

const FIPS: &str =
    "europe-docker.pkg.dev/kyma-project/restricted-prod/external/istio/istio-proxy-fips";

fn fips_desired(tag: &str) -> Desired {
    let mut d = desired(json!({}), "1.29.1");
    d.proxy_image = Some(format!("{FIPS}:{tag}"));
    d
}

fn reasons(d: &Desired, pod_image: &str, opts: &Options) -> Vec<Reason> {
    let mut objects = web(|p| p);
    objects[2]["spec"]["containers"][1]["image"] = json!(pod_image);
    objects.extend(control_plane("1.29.1"));
    objects.push(serde_json::to_value(d.istio.as_ref().unwrap()).unwrap());
    let p = plan(d, &live(objects), opts);
    find(&p, "Deployment", "ns", "web")
        .map(|e| e.reasons.clone())
        .unwrap_or_default()
}

#[test]
fn a_build_change_with_the_same_istio_version_is_its_own_reason() {
    let d = fips_desired("1.29.1-2");
    let all = Options::default();
    let cases: Vec<(&str, String, Vec<Reason>)> = vec![
        (
            "older build",
            format!("{FIPS}:1.29.1-1"),
            vec![Reason::ImageRebuild],
        ),
        ("target build", format!("{FIPS}:1.29.1-2"), vec![]),
        (
            "target build behind a mirror",
            "mirror.local/istio-proxy-fips:1.29.1-2".into(),
            vec![],
        ),
        (
            "old tag form without a build",
            "europe-docker.pkg.dev/kyma-project/restricted-prod/sap.com/istio-proxy-fips:1.29.1"
                .into(),
            vec![Reason::ImageRebuild],
        ),
        (
            "older Istio",
            format!("{FIPS}:1.28.3-1"),
            vec![Reason::IstioVersion],
        ),
    ];
    for (name, img, want) in cases {
        assert_eq!(reasons(&d, &img, &all), want, "{name}");
    }
    // The flag leaves it out; version changes stay.
    let no = Options {
        no_image_rebuild: true,
        ..Default::default()
    };
    assert!(reasons(&d, &format!("{FIPS}:1.29.1-1"), &no).is_empty());
    assert_eq!(
        reasons(&d, &format!("{FIPS}:1.28.3-1"), &no),
        vec![Reason::IstioVersion]
    );
    // Flavours are no build: the regular images never have this reason.
    let mut d = desired(json!({}), "1.29.1");
    d.proxy_image = Some(image("1.29.1"));
    assert!(reasons(&d, &format!("{HUB}/proxyv2:1.29.1"), &all).is_empty());
}

#[test]
fn in_fips_mode_the_release_names_the_fips_image() {
    let manager = |fips: Option<&str>| {
        let mut env = vec![
            json!({"name": "proxyv2", "value": image("1.29.1")}),
            json!({"name": "proxyv2-fips", "value": format!("{FIPS}:1.29.1-2")}),
        ];
        if let Some(v) = fips {
            env.push(json!({"name": "KYMA_FIPS_MODE_ENABLED", "value": v}));
        }
        let d: k8s_openapi::api::apps::v1::Deployment = serde_json::from_value(json!({
            "metadata": {"name": "istio-controller-manager", "namespace": "kyma-system",
                         "labels": {"app.kubernetes.io/version": "1.27.1"}},
            "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "manager", "env": env}]}}}
        }))
        .unwrap();
        module_release(&d).proxy_image.unwrap()
    };
    assert_eq!(manager(None), image("1.29.1"));
    assert_eq!(manager(Some("false")), image("1.29.1"));
    assert_eq!(manager(Some("true")), format!("{FIPS}:1.29.1-2"));
    assert_eq!(manager(Some("1")), format!("{FIPS}:1.29.1-2"));
}
