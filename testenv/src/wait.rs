//! Waits with a deadline, by the same rules as `kubectl rollout status`.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;

/// How often the waits poll the API server.
const POLL: Duration = Duration::from_millis(200);

/// Rollout state of a Deployment by `kubectl rollout status` rules.
#[derive(Debug, PartialEq, Eq)]
pub enum Rollout {
    Complete,
    InProgress(String),
    Failed(String),
}

/// Decides whether a Deployment's rollout is complete, still in progress or failed
/// (ProgressDeadlineExceeded), from its spec and status only.
pub fn deployment_rollout_state(d: &Deployment) -> Rollout {
    let generation = d.metadata.generation.unwrap_or(0);
    let status = d.status.clone().unwrap_or_default();
    if generation > status.observed_generation.unwrap_or(0) {
        return Rollout::InProgress("waiting for the deployment spec update to be observed".into());
    }
    let progressing = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Progressing");
    if let Some(c) = progressing
        && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    {
        return Rollout::Failed(format!(
            "deployment {:?} exceeded its progress deadline",
            d.metadata.name
        ));
    }
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let replicas = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if updated < desired {
        return Rollout::InProgress(format!(
            "{updated} of {desired} new replicas have been updated"
        ));
    }
    if replicas > updated {
        return Rollout::InProgress(format!(
            "{} old replicas are pending termination",
            replicas - updated
        ));
    }
    if available < updated {
        return Rollout::InProgress(format!(
            "{available} of {updated} updated replicas are available"
        ));
    }
    Rollout::Complete
}

/// Waits until the Deployment `namespace/name` has rolled out completely; fails on
/// ProgressDeadlineExceeded or after `timeout`. Returns the Deployment as last seen.
pub async fn deployment_rollout(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
) -> Result<Deployment> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let mut last = String::from("not read yet");
    let result = tokio::time::timeout(timeout, async {
        loop {
            let d = api
                .get(name)
                .await
                .with_context(|| format!("reading Deployment {namespace}/{name}"))?;
            match deployment_rollout_state(&d) {
                Rollout::Complete => return Ok(d),
                Rollout::Failed(why) => bail!("rollout of {namespace}/{name} failed: {why}"),
                Rollout::InProgress(why) => last = why,
            }
            tokio::time::sleep(POLL).await;
        }
    })
    .await;
    match result {
        Ok(r) => r,
        Err(_) => bail!(
            "timed out after {timeout:?} waiting for the rollout of {namespace}/{name}: {last}"
        ),
    }
}

/// Polls `check` until it returns `Some`, or fails after `timeout` naming `what`.
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let result = tokio::time::timeout(timeout, async {
        loop {
            if let Some(value) = check().await? {
                return Ok(value);
            }
            tokio::time::sleep(POLL).await;
        }
    })
    .await;
    match result {
        Ok(r) => r,
        Err(_) => bail!("timed out after {timeout:?} waiting for {what}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(generation: i64, status: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "generation": generation},
            "spec": {"replicas": 3, "selector": {}, "template": {}},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn rollout_state_follows_kubectl_rules() {
        let done = json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3});
        assert_eq!(
            deployment_rollout_state(&deployment(2, done.clone())),
            Rollout::Complete
        );
        // A spec change the controller has not seen yet is never complete.
        assert!(matches!(
            deployment_rollout_state(&deployment(3, done)),
            Rollout::InProgress(_)
        ));
        let cases = [
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 3}),
            json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 3, "availableReplicas": 3}),
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 2}),
        ];
        for status in cases {
            let state = deployment_rollout_state(&deployment(2, status.clone()));
            assert!(
                matches!(state, Rollout::InProgress(_)),
                "{status}: {state:?}"
            );
        }
        let stuck = json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 1,
            "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]});
        assert!(matches!(
            deployment_rollout_state(&deployment(2, stuck)),
            Rollout::Failed(_)
        ));
    }
}
