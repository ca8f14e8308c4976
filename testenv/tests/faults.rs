//! The fault proxy ([`istio_rollout_testenv::faults`]) in front of the real API server: each
//! fault reaches the client as it should, "after" faults let the API server act, the mix is
//! drawn from the seed.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::StreamExt;
use istio_rollout_testenv::faults::{Fault, FaultConfig, FaultProxy};
use istio_rollout_testenv::{Cluster, TestNamespace};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{ListParams, PostParams, WatchEvent, WatchParams};
use kube::config::KubeConfigOptions;
use kube::{Api, Client, Config};
use serde_json::json;

/// A namespace whose ServiceAccount `chaos` may edit it, and that account's token.
async fn setup(prefix: &str) -> Result<(TestNamespace, String)> {
    let cluster = Cluster::shared();
    let ns = cluster.namespace(prefix, false).await?;
    let token = cluster.token_for(ns.name(), "chaos").await?;
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "chaos-edit"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"kind": "ServiceAccount", "name": "chaos", "namespace": ns.name()}]
    }))?;
    Api::<RoleBinding>::namespaced(cluster.client().await?, ns.name())
        .create(&PostParams::default(), &binding)
        .await
        .context("binding edit")?;
    Ok((ns, token))
}

/// A client through the proxy, without kube's own retries (a test looks at single answers).
async fn through(proxy: &FaultProxy, token: &str, ns: &str) -> Result<Client> {
    let mut config =
        Config::from_custom_kubeconfig(proxy.kubeconfig(token)?, &KubeConfigOptions::default())
            .await?;
    config.default_retry = false;
    config.default_namespace = ns.to_string();
    Ok(Client::try_from(config)?)
}

fn config_map(name: &str) -> Result<ConfigMap> {
    Ok(serde_json::from_value(
        json!({"metadata": {"name": name}, "data": {"k": "v"}}),
    )?)
}

fn api_code(result: &Result<impl std::fmt::Debug, kube::Error>) -> Option<u16> {
    match result {
        Err(kube::Error::Api(s)) => Some(s.code),
        _ => None,
    }
}

#[tokio::test]
async fn answers_before_the_api_server_acts() -> Result<()> {
    let (ns, token) = setup("faults-before").await?;
    let admin: Api<ConfigMap> = Api::namespaced(Cluster::shared().client().await?, ns.name());
    for (fault, code) in [
        (Fault::TooManyRequests, Some(429)),
        (Fault::InternalError, Some(500)),
        (Fault::Unavailable, Some(503)),
        (Fault::ResetBefore, None),
    ] {
        let proxy = Cluster::shared()
            .fault_proxy(FaultConfig::only(fault))
            .await?;
        let api: Api<ConfigMap> =
            Api::namespaced(through(&proxy, &token, ns.name()).await?, ns.name());
        let name = format!("before-{}", code.unwrap_or(0));
        let result = api
            .create(&PostParams::default(), &config_map(&name)?)
            .await;
        assert!(
            result.is_err(),
            "{fault:?}: the create went through: {result:?}"
        );
        assert_eq!(api_code(&result), code, "{fault:?}: {result:?}");
        if fault == Fault::ResetBefore {
            assert!(
                matches!(
                    result,
                    Err(kube::Error::HyperError(_) | kube::Error::Service(_))
                ),
                "{fault:?} must be a connection error: {result:?}"
            );
        }
        assert!(
            proxy.forwarded().is_empty(),
            "{fault:?} must not reach the API server"
        );
        assert!(
            admin.get_opt(&name).await?.is_none(),
            "{fault:?}: {name} was created"
        );
        let injected = proxy.injected();
        assert_eq!(injected.len(), 1, "{fault:?}: {injected:?}");
        assert_eq!(
            (injected[0].fault, injected[0].method.as_str()),
            (fault, "POST")
        );
    }
    // 429 carries Retry-After, as the API server's own does.
    let proxy = Cluster::shared()
        .fault_proxy(FaultConfig::only(Fault::TooManyRequests))
        .await?;
    let client = through(&proxy, &token, ns.name()).await?;
    let path = format!("/api/v1/namespaces/{}/configmaps", ns.name());
    assert_eq!(raw_get(&client, &path).await?, (429, Some("1".to_string())));
    Ok(())
}

#[tokio::test]
async fn loses_the_answer_after_the_api_server_acted() -> Result<()> {
    let (ns, token) = setup("faults-after").await?;
    let admin: Api<ConfigMap> = Api::namespaced(Cluster::shared().client().await?, ns.name());
    for (fault, name, code) in [
        (Fault::TimeoutAfter, "after-timeout", Some(504)),
        (Fault::ResetAfter, "after-reset", None),
    ] {
        let proxy = Cluster::shared()
            .fault_proxy(FaultConfig::only(fault))
            .await?;
        let api: Api<ConfigMap> =
            Api::namespaced(through(&proxy, &token, ns.name()).await?, ns.name());
        let result = api.create(&PostParams::default(), &config_map(name)?).await;
        assert!(
            result.is_err(),
            "{fault:?}: the client got its answer: {result:?}"
        );
        assert_eq!(api_code(&result), code, "{fault:?}: {result:?}");
        let forwarded = proxy.forwarded();
        assert_eq!(forwarded.len(), 1, "{fault:?}");
        assert_eq!(
            (forwarded[0].method.as_str(), forwarded[0].status),
            ("POST", 201),
            "{fault:?}"
        );
        assert!(
            admin.get_opt(name).await?.is_some(),
            "{fault:?}: the API server must have created {name}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn passes_through_delays_and_cuts_watches() -> Result<()> {
    let (ns, token) = setup("faults-pass").await?;
    let proxy = Cluster::shared()
        .fault_proxy(FaultConfig::new(1, 0.0))
        .await?;
    let api: Api<ConfigMap> = Api::namespaced(through(&proxy, &token, ns.name()).await?, ns.name());
    api.create(&PostParams::default(), &config_map("plain")?)
        .await?;
    assert_eq!(
        api.list(&ListParams::default()).await?.items.len(),
        2,
        "plain + kube-root-ca.crt"
    );
    assert!(proxy.injected().is_empty());

    let mut delay = FaultConfig::only(Fault::Delay);
    delay.delay = Duration::from_millis(1500);
    proxy.set_config(delay)?;
    let started = Instant::now();
    api.get("plain").await?;
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );

    // A watch with a long server-side timeout ends within the cut (at most 2 s), not after 60 s.
    proxy.set_config(FaultConfig::only(Fault::DropWatch))?;
    let started = Instant::now();
    let mut stream = api
        .watch(&WatchParams::default().timeout(60), "0")
        .await?
        .boxed();
    let mut events = 0;
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
        if matches!(event, Ok(WatchEvent::Added(_))) {
            events += 1;
        }
        if event.is_err() {
            break;
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the watch was not cut: {:?}",
        started.elapsed()
    );
    assert!(
        events >= 2,
        "the watch delivered its events before the cut: {events}"
    );
    assert_eq!(
        proxy.injected().last().map(|i| i.fault),
        Some(Fault::DropWatch)
    );
    // A non-watch request never gets a watch fault.
    api.get("plain").await?;
    Ok(())
}

#[tokio::test]
async fn draws_the_mix_from_the_seed() -> Result<()> {
    let (ns, token) = setup("faults-seed").await?;
    let mut sequences = Vec::new();
    for seed in [7, 7, 8] {
        let mut config = FaultConfig::new(seed, 0.3);
        config.mix = vec![
            (Fault::TooManyRequests, 1),
            (Fault::InternalError, 1),
            (Fault::Unavailable, 2),
        ];
        let proxy = Cluster::shared().fault_proxy(config).await?;
        let api: Api<ConfigMap> =
            Api::namespaced(through(&proxy, &token, ns.name()).await?, ns.name());
        let mut seen = Vec::new();
        for _ in 0..100 {
            seen.push(api_code(&api.get_opt("missing").await));
        }
        let faults = proxy.injected();
        assert_eq!(seen.iter().filter(|c| c.is_some()).count(), faults.len());
        assert!(
            (15..=45).contains(&faults.len()),
            "about 30 of 100 requests: {}",
            faults.len()
        );
        for kind in [
            Fault::TooManyRequests,
            Fault::InternalError,
            Fault::Unavailable,
        ] {
            assert!(
                faults.iter().any(|f| f.fault == kind),
                "{kind:?} never drawn: {faults:?}"
            );
        }
        sequences.push(seen);
    }
    assert_eq!(
        sequences[0], sequences[1],
        "the same seed gives the same faults"
    );
    assert_ne!(
        sequences[0], sequences[2],
        "another seed gives other faults"
    );
    Ok(())
}

/// One GET through the proxy whose answer's status and `Retry-After` header are returned
/// (kube's typed calls do not expose headers).
async fn raw_get(client: &Client, path: &str) -> Result<(u16, Option<String>)> {
    let request = hyper::Request::get(path).body(kube::client::Body::empty())?;
    let response = client.send(request).await?;
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Ok((response.status().as_u16(), retry_after))
}

#[tokio::test]
async fn expires_continue_tokens_of_lowered_pages() -> Result<()> {
    let (ns, token) = setup("faults-continue").await?;
    let proxy = Cluster::shared()
        .fault_proxy(FaultConfig::new(1, 0.0))
        .await?;
    let api: Api<ConfigMap> = Api::namespaced(through(&proxy, &token, ns.name()).await?, ns.name());
    for i in 0..5 {
        api.create(&PostParams::default(), &config_map(&format!("page-{i}"))?)
            .await?;
    }
    let mut config = FaultConfig::only(Fault::ExpireContinue);
    config.page_limit = Some(2);
    proxy.set_config(config)?;
    // The first page is lowered to 2 items and has a continue token; its next page expires.
    let first = api.list(&ListParams::default().limit(500)).await?;
    assert_eq!(first.items.len(), 2, "the page limit is lowered");
    let next = first
        .metadata
        .continue_
        .clone()
        .context("a continue token")?;
    let result = api
        .list(&ListParams::default().limit(500).continue_token(&next))
        .await;
    match result {
        Err(kube::Error::Api(s)) => assert_eq!((s.code, s.reason.as_str()), (410, "Expired")),
        other => panic!("expected 410 Expired, got {other:?}"),
    }
    assert_eq!(
        proxy.injected().iter().map(|i| i.fault).collect::<Vec<_>>(),
        vec![Fault::ExpireContinue],
        "only the continued request is faulted"
    );
    Ok(())
}
