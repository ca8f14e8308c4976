//! The mutating admission webhook: [`review`] answers an AdmissionReview for a pod with a JSON
//! patch made by [`inject`], and [`serve`] serves it over HTTPS (rustls, [`tls_config`]),
//! reading the settings from the cluster on every request.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use k8s_openapi::api::core::v1::Pod;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};

use super::inject::inject;
use super::settings::{InjectorSettings, read_settings};

/// Computes the admission response for one request: a JSON patch that injects the sidecar, or
/// an allowed response without a patch.
pub fn review(request: &AdmissionRequest<Pod>, settings: &InjectorSettings) -> AdmissionResponse {
    let response = AdmissionResponse::from(request);
    let Some(pod) = request.object.as_ref() else {
        return response;
    };
    match inject(pod, settings) {
        Ok(None) => response,
        Ok(Some(injected)) => {
            let before = serde_json::to_value(pod).expect("a Pod serialises");
            let after = serde_json::to_value(&injected).expect("a Pod serialises");
            match response.with_patch(json_patch::diff(&before, &after)) {
                Ok(r) => r,
                Err(e) => AdmissionResponse::from(request).deny(format!("sim-injector: {e}")),
            }
        }
        Err(e) => response.deny(format!("sim-injector: {e:#}")),
    }
}

type Body = Full<Bytes>;

fn respond(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

async fn handle(client: kube::Client, request: Request<Incoming>) -> Response<Body> {
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/healthz") => respond(StatusCode::OK, "ok"),
        (&Method::POST, "/inject") => {
            let body = match request.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => return respond(StatusCode::BAD_REQUEST, format!("reading body: {e}")),
            };
            let review_in: AdmissionReview<Pod> = match serde_json::from_slice(&body) {
                Ok(r) => r,
                Err(e) => {
                    return respond(
                        StatusCode::BAD_REQUEST,
                        format!("not an AdmissionReview: {e}"),
                    );
                }
            };
            let admission: AdmissionRequest<Pod> = match review_in.try_into() {
                Ok(r) => r,
                Err(e) => {
                    return respond(
                        StatusCode::BAD_REQUEST,
                        format!("AdmissionReview without request: {e}"),
                    );
                }
            };
            let response = match read_settings(&client).await {
                Ok(settings) => {
                    let r = review(&admission, &settings);
                    tracing::info!(
                        namespace = admission.namespace.as_deref().unwrap_or(""),
                        name = admission.name,
                        patched = r.patch.is_some(),
                        allowed = r.allowed,
                        version = settings.istio_version,
                        "admission"
                    );
                    r
                }
                Err(e) => {
                    tracing::error!("{e:#}");
                    AdmissionResponse::from(&admission).deny(format!("sim-injector: {e:#}"))
                }
            };
            let review_out: AdmissionReview<DynamicObject> = response.into_review();
            match serde_json::to_vec(&review_out) {
                Ok(bytes) => {
                    let mut r = respond(StatusCode::OK, bytes);
                    r.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        "application/json".parse().expect("static header"),
                    );
                    r
                }
                Err(e) => respond(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
        _ => respond(StatusCode::NOT_FOUND, "not found"),
    }
}

/// Loads a PEM certificate chain and private key into a rustls server config.
pub fn tls_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}", cert.display()))?;
    let key =
        PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Serves the webhook on `addr` until the process ends.
pub async fn serve(
    addr: SocketAddr,
    tls: rustls::ServerConfig,
    client: kube::Client,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    tracing::info!(%addr, "sim-injector listening");
    loop {
        let (stream, peer) = listener.accept().await?;
        let acceptor = acceptor.clone();
        let client = client.clone();
        tokio::spawn(async move {
            let stream = match acceptor.accept(stream).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(%peer, "TLS handshake failed: {e}");
                    return;
                }
            };
            let service = hyper::service::service_fn(move |req| {
                let client = client.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(client, req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, "connection error: {e}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn review_returns_a_json_patch() {
        let settings = InjectorSettings::kyma_default("1.29.3");
        let review_json = serde_json::json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "0000-1111",
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "operation": "CREATE",
                "namespace": "demo",
                "userInfo": {"username": "admin"},
                "object": {
                    "metadata": {"name": "app-1", "labels": {"app": "app"}},
                    "spec": {"containers": [{"name": "app", "image": "nginx"}]},
                },
            }
        });
        let review_in: AdmissionReview<Pod> = serde_json::from_value(review_json).unwrap();
        let request: AdmissionRequest<Pod> = review_in.try_into().unwrap();
        let response = review(&request, &settings);
        assert!(response.allowed);
        let patch: serde_json::Value =
            serde_json::from_slice(response.patch.as_ref().unwrap()).unwrap();
        let text = patch.to_string();
        assert!(text.contains("/spec/initContainers"), "{text}");
        assert!(text.contains("proxyv2:1.29.3-distroless"), "{text}");
    }
}
