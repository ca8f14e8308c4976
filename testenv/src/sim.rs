//! The simulated Kyma Istio module: the objects a cluster with the Istio module has (the Istio
//! CR, the istiod / ingress gateway / module manager Deployments, the mesh ConfigMap) and the
//! injector's settings, plus functions that let a test play the operator ([`Sim::upgrade`],
//! [`Sim::set_cr_status`], [`Sim::set_cr_spec`], [`Sim::update_settings`]).
//!
//! Everything is written with server-side apply under the field manager [`FIELD_MANAGER`], so
//! calling [`Sim::install`] again resets the simulated module to a known state.

use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::injector::{ISTIO_NAMESPACE, InjectorSettings, SETTINGS_CONFIGMAP, SETTINGS_KEY};
use crate::wait;

/// Registry path of the Istio images Kyma ships.
pub const HUB: &str = "europe-docker.pkg.dev/kyma-project/prod/external/istio";
/// Image of the Istio module's manager, without the tag.
pub const MANAGER_IMAGE: &str =
    "europe-docker.pkg.dev/kyma-project/prod/istio/releases/istio-manager";
/// Module version installed by default (module 1.27.4 ships Istio 1.29.3).
pub const DEFAULT_MODULE_VERSION: &str = "1.27.4";
/// Istio version installed by default.
pub const DEFAULT_ISTIO_VERSION: &str = "1.29.3";
/// Namespace of the module manager and the Istio CR.
pub const KYMA_NAMESPACE: &str = "kyma-system";
/// Name of the Istio CR.
pub const CR_NAME: &str = "default";
/// Annotation in which the operator records what it applied.
pub const LAST_APPLIED_ANNOTATION: &str = "operator.kyma-project.io/lastAppliedConfiguration";
/// Field manager of every write the simulation makes.
pub const FIELD_MANAGER: &str = "sim-istio";
/// Name of the MutatingWebhookConfiguration of the simulated injector.
pub const WEBHOOK_NAME: &str = "sim-istio-sidecar-injector";

/// The Istio custom resource (`operator.kyma-project.io/v1alpha2`, `istios`).
pub fn istio_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("operator.kyma-project.io", "v1alpha2", "Istio"),
        "istios",
    )
}

/// `lastAppliedConfiguration` as the operator writes it: the CR spec plus `"IstioTag"`.
pub fn last_applied(spec: &Value, istio_version: &str) -> Value {
    let mut applied = match spec {
        Value::Object(map) => map.clone(),
        _ => serde_json::Map::new(),
    };
    applied.insert(
        "IstioTag".to_string(),
        Value::String(format!("{istio_version}-distroless")),
    );
    Value::Object(applied)
}

/// Name of the module manager Deployment (in [`KYMA_NAMESPACE`]).
pub const MANAGER_DEPLOYMENT: &str = "istio-controller-manager";
/// Label of the manager Deployment that carries the module version.
pub const MODULE_VERSION_LABEL: &str = "app.kubernetes.io/version";

/// The images a module release installs, as its manager's env vars name them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleImages {
    pub pilot: String,
    pub proxyv2: String,
    pub install_cni: String,
    pub ztunnel: String,
}

impl ModuleImages {
    /// The images Kyma ships for `istio_version` (`<HUB>/<name>:<version>-distroless`).
    pub fn kyma(istio_version: &str) -> Self {
        let image = |name: &str| format!("{HUB}/{name}:{istio_version}-distroless");
        Self {
            pilot: image("pilot"),
            proxyv2: image("proxyv2"),
            install_cni: image("install-cni"),
            ztunnel: image("ztunnel"),
        }
    }
}

/// A Deployment of the module (labelled `kyma-project.io/module: istio`) with one container.
fn module_deployment(namespace: &str, name: &str, labels: Value, container: Value) -> Value {
    let mut all_labels = json!({"kyma-project.io/module": "istio"});
    all_labels
        .as_object_mut()
        .unwrap()
        .extend(labels.as_object().unwrap().clone());
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": all_labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": all_labels},
                "spec": {"containers": [container], "terminationGracePeriodSeconds": 1}
            }
        }
    })
}

/// Handle to the simulated Istio module of one cluster.
#[derive(Clone)]
pub struct Sim {
    client: kube::Client,
}

impl Sim {
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }

    fn apply_params() -> PatchParams {
        PatchParams::apply(FIELD_MANAGER).force()
    }

    /// Registers the injector webhook at `url` (HTTPS), trusting the PEM `ca_bundle`. Only
    /// namespaces labelled `istio-injection=enabled` are sent to it. failurePolicy is Fail: a
    /// pod must never be created uninjected because the simulated injector is down, or tests
    /// would pass on pods without a sidecar.
    pub async fn install_webhook(&self, url: &str, ca_bundle: &[u8]) -> Result<()> {
        use k8s_openapi::ByteString;
        let ca = serde_json::to_value(ByteString(ca_bundle.to_vec()))?;
        let webhook = json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": WEBHOOK_NAME, "labels": {"app": "sim-istio"}},
            "webhooks": [{
                "name": "sidecar-injector.sim.istio.io",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "reinvocationPolicy": "Never",
                "timeoutSeconds": 10,
                "clientConfig": {"url": url, "caBundle": ca},
                "namespaceSelector": {"matchLabels": {"istio-injection": "enabled"}},
                "rules": [{
                    "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"],
                    "operations": ["CREATE"], "scope": "Namespaced"
                }]
            }]
        });
        let api: Api<MutatingWebhookConfiguration> = Api::all(self.client.clone());
        api.patch(WEBHOOK_NAME, &Self::apply_params(), &Patch::Apply(webhook))
            .await
            .context("applying the injector's MutatingWebhookConfiguration")?;
        Ok(())
    }

    /// Installs (or resets to) a default Kyma Istio module of the given versions: namespaces,
    /// injector settings, mesh ConfigMap, control-plane Deployments and the Istio CR with
    /// status Ready. Waits until the Deployments have rolled out. Needs the Istio CRD.
    pub async fn install(&self, module_version: &str, istio_version: &str) -> Result<()> {
        // The operator process back to its own mode (passive in the test cluster) first, so
        // that it does not act on the reset.
        crate::operator::release(&self.client).await?;
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        for ns in [ISTIO_NAMESPACE, KYMA_NAMESPACE] {
            let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            namespaces
                .patch(ns, &Self::apply_params(), &Patch::Apply(body))
                .await
                .with_context(|| format!("applying namespace {ns}"))?;
        }
        self.set_settings(&InjectorSettings::kyma_default(istio_version))
            .await?;
        // No feature flags, no dual-stack provisioning: the module's defaults.
        let cms: Api<ConfigMap> = Api::namespaced(self.client.clone(), KYMA_NAMESPACE);
        for name in [
            crate::injector::settings::FEATURES_CONFIGMAP,
            crate::injector::settings::PROVISIONING_CONFIGMAP,
        ] {
            match cms.delete(name, &Default::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("deleting {KYMA_NAMESPACE}/{name}"));
                }
            }
        }
        self.apply_control_plane(module_version, istio_version)
            .await?;
        let spec = json!({});
        self.set_cr_spec(&spec).await?;
        self.set_cr_status(
            "Ready",
            &last_applied(
                &json!({"config": {"telemetry": {"metrics": {}}}}),
                istio_version,
            ),
        )
        .await?;
        self.wait_control_plane(Duration::from_secs(60)).await
    }

    /// Plays the operator's upgrade: the injector now injects `istio_version`, and istiod, the
    /// ingress gateway and the module manager run the new versions. Waits for their rollouts.
    /// The CR status is left alone: set it with [`Sim::set_cr_status`] when the test wants.
    /// With the autonomous operator, use [`Sim::deploy_module`] instead: it changes only the
    /// module and lets the operator do the rest.
    pub async fn upgrade(&self, module_version: &str, istio_version: &str) -> Result<()> {
        self.update_settings(|s| s.istio_version = istio_version.to_string())
            .await?;
        self.apply_control_plane(module_version, istio_version)
            .await?;
        self.wait_control_plane(Duration::from_secs(60)).await
    }

    /// What a GitOps sync of a new module release does: only the manager Deployment changes
    /// (its version label and the images of `istio_version` in its env vars). The autonomous
    /// operator ([`crate::operator`]) then installs and restarts; the passive one does nothing.
    pub async fn deploy_module(&self, module_version: &str, istio_version: &str) -> Result<()> {
        self.apply_manager(module_version, &ModuleImages::kyma(istio_version))
            .await?;
        wait::deployment_rollout(
            &self.client,
            KYMA_NAMESPACE,
            MANAGER_DEPLOYMENT,
            Duration::from_secs(60),
        )
        .await?;
        Ok(())
    }

    /// The injector's current settings.
    pub async fn settings(&self) -> Result<InjectorSettings> {
        crate::injector::read_settings(&self.client).await
    }

    /// Replaces the injector's settings and keeps the mesh ConfigMap in line with them.
    pub async fn set_settings(&self, settings: &InjectorSettings) -> Result<()> {
        let cms: Api<ConfigMap> = Api::namespaced(self.client.clone(), ISTIO_NAMESPACE);
        let body = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": SETTINGS_CONFIGMAP, "namespace": ISTIO_NAMESPACE},
            "data": {SETTINGS_KEY: serde_json::to_string_pretty(settings)?}
        });
        cms.patch(
            SETTINGS_CONFIGMAP,
            &Self::apply_params(),
            &Patch::Apply(body),
        )
        .await
        .context("applying the injector settings ConfigMap")?;
        // What the operator renders from the CR into the mesh config for new sidecars: DNS
        // capture as proxy metadata, the stats matcher, Prometheus merge (flow YAML; JSON strings
        // quote the regexps).
        let metadata = if settings.dns_proxying {
            r#"{ISTIO_META_DNS_CAPTURE: "true"}"#
        } else {
            "{}"
        };
        let matcher = match &settings.proxy_stats_matcher {
            Some(r) => format!(
                "  proxyStatsMatcher: {{inclusionRegexps: {}}}\n",
                serde_json::to_string(r)?
            ),
            None => String::new(),
        };
        let mesh = format!(
            "defaultConfig:\n  discoveryAddress: istiod.istio-system.svc:15012\n  statusPort: {port}\n  \
             proxyMetadata: {metadata}\n{matcher}  tracing: {{}}\nenablePrometheusMerge: {merge}\nrootNamespace: istio-system\n\
             trustDomain: cluster.local\n",
            port = settings.status_port,
            merge = settings.prometheus_merge,
        );
        let body = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "istio", "namespace": ISTIO_NAMESPACE, "labels": {"istio.io/rev": "default"}},
            "data": {"mesh": mesh, "meshNetworks": "networks: {}\n"}
        });
        cms.patch("istio", &Self::apply_params(), &Patch::Apply(body))
            .await
            .context("applying ConfigMap istio-system/istio")?;
        Ok(())
    }

    /// Writes the module's feature flags (`kyma-system/istio-features`, key `features`, JSON), as a
    /// user or a GitOps sync would; the injector reads them on every request.
    pub async fn set_features(&self, features: &Value) -> Result<()> {
        let cms: Api<ConfigMap> = Api::namespaced(self.client.clone(), KYMA_NAMESPACE);
        let name = crate::injector::settings::FEATURES_CONFIGMAP;
        let body = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": KYMA_NAMESPACE},
            "data": {"features": features.to_string()}
        });
        cms.patch(name, &Self::apply_params(), &Patch::Apply(body))
            .await
            .with_context(|| format!("applying ConfigMap {KYMA_NAMESPACE}/{name}"))?;
        Ok(())
    }

    /// Writes `kyma-system/kyma-provisioning-info` saying whether the cluster is dual-stack.
    pub async fn set_dual_stack_cluster(&self, dual_stack: bool) -> Result<()> {
        let cms: Api<ConfigMap> = Api::namespaced(self.client.clone(), KYMA_NAMESPACE);
        let name = crate::injector::settings::PROVISIONING_CONFIGMAP;
        let body = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": KYMA_NAMESPACE},
            "data": {"details": format!("networkDetails:\n  dualStackIPEnabled: {dual_stack}\n")}
        });
        cms.patch(name, &Self::apply_params(), &Patch::Apply(body))
            .await
            .with_context(|| format!("applying ConfigMap {KYMA_NAMESPACE}/{name}"))?;
        Ok(())
    }

    /// Reads, changes and writes the injector's settings (e.g. `|s| s.prometheus_merge = true`).
    pub async fn update_settings(
        &self,
        change: impl FnOnce(&mut InjectorSettings),
    ) -> Result<InjectorSettings> {
        let mut settings = self.settings().await?;
        change(&mut settings);
        self.set_settings(&settings).await?;
        Ok(settings)
    }

    /// Applies the istiod, ingress gateway and module manager Deployments of these versions.
    pub async fn apply_control_plane(
        &self,
        module_version: &str,
        istio_version: &str,
    ) -> Result<()> {
        let images = ModuleImages::kyma(istio_version);
        self.apply_istio(&images).await?;
        self.apply_manager(module_version, &images).await
    }

    /// Applies what the operator installs from a module's images: the istiod and ingress
    /// gateway Deployments.
    pub async fn apply_istio(&self, images: &ModuleImages) -> Result<()> {
        let deployments = [
            module_deployment(
                ISTIO_NAMESPACE,
                "istiod",
                json!({"app": "istiod", "istio": "pilot", "istio.io/rev": "default"}),
                json!({"name": "discovery", "image": images.pilot, "args": ["discovery", "--monitoringAddr=:15014"]}),
            ),
            module_deployment(
                ISTIO_NAMESPACE,
                "istio-ingressgateway",
                json!({"app": "istio-ingressgateway", "istio": "ingressgateway"}),
                json!({"name": "istio-proxy", "image": images.proxyv2, "args": ["proxy", "router"]}),
            ),
        ];
        for body in deployments {
            self.apply_deployment(body).await?;
        }
        Ok(())
    }

    /// Applies the module itself, as a GitOps sync of a module release's `istio-manager.yaml`
    /// does: the manager Deployment `kyma-system/istio-controller-manager`, labelled with the
    /// module version and naming the images it installs in its env vars.
    pub async fn apply_manager(&self, module_version: &str, images: &ModuleImages) -> Result<()> {
        self.apply_deployment(module_deployment(
            KYMA_NAMESPACE,
            MANAGER_DEPLOYMENT,
            json!({
                "app": MANAGER_DEPLOYMENT,
                "app.kubernetes.io/name": "istio-operator",
                MODULE_VERSION_LABEL: module_version,
                "control-plane": "controller-manager",
            }),
            json!({
                "name": "manager",
                "image": format!("{MANAGER_IMAGE}:{module_version}"),
                "env": [
                    {"name": "pilot", "value": images.pilot},
                    {"name": "proxyv2", "value": images.proxyv2},
                    {"name": "install-cni", "value": images.install_cni},
                    {"name": "ztunnel", "value": images.ztunnel},
                ]
            }),
        ))
        .await
    }

    async fn apply_deployment(&self, body: Value) -> Result<()> {
        let namespace = body["metadata"]["namespace"].as_str().unwrap().to_string();
        let name = body["metadata"]["name"].as_str().unwrap().to_string();
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), &namespace);
        api.patch(&name, &Self::apply_params(), &Patch::Apply(body))
            .await
            .with_context(|| format!("applying Deployment {namespace}/{name}"))?;
        Ok(())
    }

    /// Waits until istiod, the ingress gateway and the module manager have rolled out.
    pub async fn wait_control_plane(&self, timeout: Duration) -> Result<()> {
        for (ns, name) in [
            (ISTIO_NAMESPACE, "istiod"),
            (ISTIO_NAMESPACE, "istio-ingressgateway"),
            (KYMA_NAMESPACE, "istio-controller-manager"),
        ] {
            wait::deployment_rollout(&self.client, ns, name, timeout).await?;
        }
        Ok(())
    }

    fn cr_api(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), KYMA_NAMESPACE, &istio_resource())
    }

    /// Creates the Istio CR `kyma-system/default` with this spec, or replaces its whole spec
    /// (an update, not an apply: fields that other field managers set are dropped too).
    pub async fn set_cr_spec(&self, spec: &Value) -> Result<()> {
        let api = self.cr_api();
        let context = "writing the Istio CR kyma-system/default (is the Istio CRD installed?)";
        match api.get_opt(CR_NAME).await.context(context)? {
            Some(mut cr) => {
                cr.data["spec"] = spec.clone();
                api.replace(CR_NAME, &PostParams::default(), &cr)
                    .await
                    .context(context)?;
            }
            None => {
                let cr: DynamicObject = serde_json::from_value(json!({
                    "apiVersion": "operator.kyma-project.io/v1alpha2", "kind": "Istio",
                    "metadata": {"name": CR_NAME, "namespace": KYMA_NAMESPACE},
                    "spec": spec,
                }))?;
                api.create(&PostParams::default(), &cr)
                    .await
                    .context(context)?;
            }
        }
        Ok(())
    }

    /// Plays the operator finishing a reconciliation: sets `status.state` (Processing, Ready,
    /// Error, Warning, Deleting) with a matching `Ready` condition, and the
    /// `lastAppliedConfiguration` annotation to `last_applied` (see [`last_applied`]).
    pub async fn set_cr_status(&self, state: &str, last_applied: &Value) -> Result<()> {
        let api = self.cr_api();
        let annotation = json!({"metadata": {"annotations": {LAST_APPLIED_ANNOTATION: last_applied.to_string()}}});
        api.patch(CR_NAME, &PatchParams::default(), &Patch::Merge(annotation))
            .await
            .context("annotating the Istio CR")?;
        let ready = state == "Ready";
        let now = k8s_openapi::jiff::Timestamp::now().to_string();
        let status = json!({
            "status": {
                "state": state,
                "description": if ready { "Istio installation is ready" } else { "simulated state" },
                "conditions": [{
                    "type": "Ready",
                    "status": if ready { "True" } else { "False" },
                    "reason": if ready { "ReconcileSucceeded" } else { "ReconcileFailed" },
                    "message": format!("simulated operator: {state}"),
                    "lastTransitionTime": now,
                }]
            }
        });
        api.patch_status(CR_NAME, &PatchParams::default(), &Patch::Merge(status))
            .await
            .context("patching the Istio CR status (does the CRD have the status subresource?)")?;
        Ok(())
    }

    /// The Istio CR as stored.
    pub async fn cr(&self) -> Result<DynamicObject> {
        self.cr_api()
            .get(CR_NAME)
            .await
            .context("reading the Istio CR")
    }
}
