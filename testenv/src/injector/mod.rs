//! The simulated sidecar injector: what Istio's injection webhook does to a new pod, reduced to
//! the parts that decide whether a sidecar restart is needed (image, native or regular sidecar,
//! status annotation, Prometheus merge annotations, proxy metadata env, resources, the
//! `istio-init` / `istio-validation` init container of the module's feature flags).
//!
//! - [`settings`]: what the injector injects ([`InjectorSettings`]) and where the cluster keeps
//!   it ([`read_settings`]).
//! - [`inject`](mod@inject): the injection itself, pure: [`inject()`] turns a pod and the
//!   settings into the injected pod. Istio's injection rules live here and only here.
//! - [`server`]: the mutating admission webhook (`sim-istio injector`): [`review`] answers an
//!   AdmissionReview with a JSON patch, [`serve`] serves it over HTTPS ([`tls_config`]).
//!
//! The webhook reads its settings from the cluster on every request, so a test that "upgrades"
//! Istio only writes the settings ConfigMap (see [`crate::sim`]).

pub mod inject;
pub mod server;
pub mod settings;

pub use inject::{
    ANNOTATION_INJECT, ANNOTATION_MERGE_METRICS, ANNOTATION_NATIVE_SIDECAR,
    ANNOTATION_PROMETHEUS_PATH, ANNOTATION_PROMETHEUS_PORT, ANNOTATION_PROMETHEUS_SCRAPE,
    ANNOTATION_PROXY_CONFIG, ANNOTATION_PROXY_CPU, ANNOTATION_PROXY_CPU_LIMIT,
    ANNOTATION_PROXY_IMAGE, ANNOTATION_PROXY_MEMORY, ANNOTATION_PROXY_MEMORY_LIMIT,
    ANNOTATION_STATUS, DNS_PROXYING_ENV, DUAL_STACK_ENV, HBONE_ENV, INIT_CONTAINER,
    PROXY_CONFIG_ENV, PROXY_CONTAINER, VALIDATION_CONTAINER, compatibility_env, inject,
};
pub use server::{review, serve, tls_config};

/// The image of a pod's `istio-proxy` container (a native sidecar among the init containers, or
/// a regular container), if it has one.
pub fn proxy_image(p: &k8s_openapi::api::core::v1::Pod) -> Option<String> {
    let spec = p.spec.as_ref()?;
    spec.init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
        .find(|c| c.name == PROXY_CONTAINER)
        .and_then(|c| c.image.clone())
}
pub use settings::{
    Features, ISTIO_NAMESPACE, InjectorSettings, SETTINGS_CONFIGMAP, SETTINGS_KEY, read_features,
    read_settings,
};
