//! A fault-injecting TLS reverse proxy in front of the test API server, for the chaos tests.
//!
//! [`FaultProxy::start`] listens on `127.0.0.1` with a self-signed certificate, forwards every
//! request (its `Authorization` header included) to the API server of an admin kubeconfig, and
//! answers a seeded share of them with a fault instead ([`Fault`]): `429` with `Retry-After`,
//! `500` and `503` before the API server sees the request; `504` or a dropped connection *after*
//! the API server did the work, so the answer is lost; a delay; a watch cut short. Every fault is
//! logged (tracing, target `faults`) and kept in [`FaultProxy::injected`].
//!
//! The client under test reaches the proxy through [`FaultProxy::kubeconfig`]: the admin
//! kubeconfig with the proxy as server, its certificate as the CA, and a bearer token (a client
//! certificate cannot pass a TLS-terminating proxy). Faults are drawn from one seeded generator in
//! the order requests arrive; with concurrent clients the order, not the mix, varies between runs.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Body, Bytes, Frame, Incoming};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::{TokioExecutor, TokioIo};
use kube::config::Kubeconfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// One kind of injected fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// `429 Too Many Requests` with `Retry-After: 1`, before the API server sees the request.
    TooManyRequests,
    /// `500 Internal Server Error`, before the API server sees the request.
    InternalError,
    /// `503 Service Unavailable`, before the API server sees the request.
    Unavailable,
    /// The connection closed without an answer, before the API server sees the request.
    ResetBefore,
    /// The API server did the work; the client gets `504 Gateway Timeout` instead of its answer.
    TimeoutAfter,
    /// The API server did the work; the connection closes without an answer.
    ResetAfter,
    /// The request waits [`FaultConfig::delay`] before it is forwarded.
    Delay,
    /// A watch ends after a random 0.2 to 2 s (only drawn for watch requests).
    DropWatch,
    /// `410 Gone` (reason `Expired`) for the next page of a list, as when its continue token
    /// has expired (only drawn for requests that carry a continue token).
    ExpireContinue,
}

impl Fault {
    /// Every fault, in a fixed order.
    pub const ALL: [Fault; 9] = [
        Fault::TooManyRequests,
        Fault::InternalError,
        Fault::Unavailable,
        Fault::ResetBefore,
        Fault::TimeoutAfter,
        Fault::ResetAfter,
        Fault::Delay,
        Fault::DropWatch,
        Fault::ExpireContinue,
    ];
}

/// Which faults, how often, from which seed.
#[derive(Clone, Debug)]
pub struct FaultConfig {
    /// Seed of the generator that draws faults.
    pub seed: u64,
    /// Share of requests that get a fault, 0.0 to 1.0.
    pub rate: f64,
    /// The faults to draw from, with weights. Watch-only faults are drawn only for watches.
    pub mix: Vec<(Fault, u32)>,
    /// How long a [`Fault::Delay`] holds a request.
    pub delay: Duration,
    /// Lowers the `limit` of every paged list to this, so that small lists have continue tokens.
    pub page_limit: Option<u32>,
}

impl FaultConfig {
    /// Every fault with equal weight, 3 s delays.
    pub fn new(seed: u64, rate: f64) -> FaultConfig {
        FaultConfig {
            seed,
            rate,
            mix: Fault::ALL.iter().map(|f| (*f, 1)).collect(),
            delay: Duration::from_secs(3),
            page_limit: None,
        }
    }

    /// Only `fault`, for every request that can get it (`rate` 1).
    pub fn only(fault: Fault) -> FaultConfig {
        FaultConfig {
            mix: vec![(fault, 1)],
            ..FaultConfig::new(0, 1.0)
        }
    }
}

/// One injected fault, as logged.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Injected {
    /// Milliseconds since the proxy started.
    pub at_ms: u128,
    pub fault: Fault,
    pub method: String,
    /// Path and query of the request.
    pub target: String,
}

/// One request the proxy forwarded to the API server, with the status it answered (whatever the
/// client got).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Forwarded {
    pub method: String,
    /// Path and query, as sent to the API server.
    pub target: String,
    pub status: u16,
}

/// What the proxy's connections share.
struct Shared {
    upstream: Uri,
    client: HttpClient<
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
        Full<Bytes>,
    >,
    config: Mutex<FaultConfig>,
    rng: Mutex<fastrand::Rng>,
    injected: Mutex<Vec<Injected>>,
    forwarded: Mutex<Vec<Forwarded>>,
    unreachable: std::sync::atomic::AtomicU64,
    started: Instant,
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    certificate_pem: String,
    upstream_kubeconfig: Kubeconfig,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
}

type ProxyBody = BoxBody<Bytes, hyper::Error>;

impl FaultProxy {
    /// Starts a proxy in front of the API server of `upstream` (an admin kubeconfig: its first
    /// cluster's server and CA are used).
    pub async fn start(upstream: &Kubeconfig, config: FaultConfig) -> Result<FaultProxy> {
        validate(&config)?;
        let cluster = upstream
            .clusters
            .first()
            .and_then(|c| c.cluster.as_ref())
            .ok_or_else(|| anyhow!("the upstream kubeconfig has no cluster"))?;
        let server: Uri = cluster
            .server
            .as_deref()
            .ok_or_else(|| anyhow!("the upstream kubeconfig's cluster has no server"))?
            .parse()
            .context("the upstream server URL")?;
        let ca_pem = upstream_ca(cluster)?;

        let mut roots = rustls::RootCertStore::empty();
        for cert in pem_certs(&ca_pem)? {
            roots.add(cert).context("adding the API server's CA")?;
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .build();
        let client = HttpClient::builder(TokioExecutor::new()).build(connector);

        let key = rcgen::KeyPair::generate().context("generating the proxy's key")?;
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
            .context("the proxy's certificate parameters")?;
        let cert = params
            .self_signed(&key)
            .context("signing the proxy's certificate")?;
        let acceptor = TlsAcceptor::from(Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .context("the proxy's TLS configuration")?,
        ));

        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream: server,
            client,
            rng: Mutex::new(fastrand::Rng::with_seed(config.seed)),
            config: Mutex::new(config),
            injected: Mutex::new(Vec::new()),
            forwarded: Mutex::new(Vec::new()),
            unreachable: std::sync::atomic::AtomicU64::new(0),
            started: Instant::now(),
        });
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(accept_loop(listener, acceptor, shared.clone(), stopped));
        tracing::info!(target: "faults", %addr, "fault proxy listening");
        Ok(FaultProxy {
            addr,
            certificate_pem: cert.pem(),
            upstream_kubeconfig: upstream.clone(),
            shared,
            stop,
        })
    }

    /// The proxy's URL, `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Replaces the fault configuration (the generator keeps its state), e.g. rate 0 while a
    /// test sets up or checks.
    pub fn set_config(&self, config: FaultConfig) -> Result<()> {
        validate(&config)?;
        *self.shared.config.lock().expect("config lock") = config;
        Ok(())
    }

    /// Sets only the share of requests that get a fault.
    pub fn set_rate(&self, rate: f64) -> Result<()> {
        let mut config = self.shared.config.lock().expect("config lock").clone();
        config.rate = rate;
        self.set_config(config)
    }

    /// The faults injected so far, in order.
    pub fn injected(&self) -> Vec<Injected> {
        self.shared.injected.lock().expect("log lock").clone()
    }

    /// The requests forwarded to the API server so far (those faulted after it acted included).
    pub fn forwarded(&self) -> Vec<Forwarded> {
        self.shared.forwarded.lock().expect("log lock").clone()
    }

    /// How many requests the proxy answered `502 Bad Gateway` because the API server could not
    /// be reached (while it restarts, say).
    pub fn unreachable(&self) -> u64 {
        self.shared
            .unreachable
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A kubeconfig that reaches the API server through this proxy as the holder of `token`.
    pub fn kubeconfig(&self, token: &str) -> Result<Kubeconfig> {
        let mut kc = serde_json::to_value(&self.upstream_kubeconfig)?;
        let ca = BASE64.encode(self.certificate_pem.as_bytes());
        for cluster in kc["clusters"].as_array_mut().into_iter().flatten() {
            cluster["cluster"] = serde_json::json!({
                "server": self.url(),
                "certificate-authority-data": ca,
            });
        }
        kc["users"] =
            serde_json::json!([{"name": "through-fault-proxy", "user": {"token": token}}]);
        for ctx in kc["contexts"].as_array_mut().into_iter().flatten() {
            ctx["context"]["user"] = serde_json::Value::String("through-fault-proxy".into());
        }
        Ok(serde_json::from_value(kc)?)
    }

    /// [`FaultProxy::kubeconfig`] written to `dir/kubeconfig-fault-proxy.json`.
    pub fn write_kubeconfig(&self, token: &str, dir: &Path) -> Result<PathBuf> {
        let path = dir.join("kubeconfig-fault-proxy.json");
        std::fs::write(&path, serde_json::to_string(&self.kubeconfig(token)?)?)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn validate(config: &FaultConfig) -> Result<()> {
    if !(0.0..=1.0).contains(&config.rate) {
        bail!("fault rate {} is not between 0 and 1", config.rate);
    }
    if config.rate > 0.0 && config.mix.iter().all(|(_, w)| *w == 0) {
        bail!("a fault rate above 0 needs at least one fault with a weight above 0");
    }
    Ok(())
}

fn upstream_ca(cluster: &kube::config::Cluster) -> Result<Vec<u8>> {
    if let Some(data) = &cluster.certificate_authority_data {
        return BASE64
            .decode(data.trim())
            .context("certificate-authority-data of the upstream kubeconfig");
    }
    if let Some(file) = &cluster.certificate_authority {
        return std::fs::read(file).with_context(|| format!("reading the upstream CA {file}"));
    }
    bail!("the upstream kubeconfig's cluster has no certificate authority")
}

fn pem_certs(pem: &[u8]) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .context("reading the upstream CA's PEM")
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(target: "faults", "accept: {e}");
                    continue;
                }
            },
            _ = stopped.changed() => return,
        };
        let acceptor = acceptor.clone();
        let shared = shared.clone();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |request| {
                let shared = shared.clone();
                async move { handle(&shared, request).await }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service);
            tokio::select! {
                _ = connection => {}
                _ = stopped.changed() => {}
            }
        });
    }
}

/// The error a service returns to make hyper drop the connection without an answer.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault proxy")
    }
}

impl std::error::Error for Dropped {}

async fn handle(
    shared: &Shared,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, Dropped> {
    let method = request.method().to_string();
    let target = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let query = request.uri().query().unwrap_or("");
    let has = |key: &str| query.split('&').any(|p| p.split('=').next() == Some(key));
    let is_watch = query
        .split('&')
        .any(|p| p == "watch=true" || p == "watch=1");
    let fault = draw(shared, is_watch, has("continue"));
    let page_limit = shared.config.lock().expect("config lock").page_limit;
    let target = match page_limit {
        Some(limit) if has("limit") => with_limit(&target, limit),
        _ => target,
    };
    if let Some(fault) = fault {
        tracing::info!(target: "faults", fault = ?fault, %method, %target, "injecting");
        shared.injected.lock().expect("log lock").push(Injected {
            at_ms: shared.started.elapsed().as_millis(),
            fault,
            method: method.clone(),
            target: target.clone(),
        });
    }
    match fault {
        Some(Fault::TooManyRequests) => {
            let mut r = status(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests (fault proxy)",
            );
            r.headers_mut()
                .insert("retry-after", "1".parse().expect("a header value"));
            return Ok(r);
        }
        Some(Fault::InternalError) => {
            return Ok(status(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error (fault proxy)",
            ));
        }
        Some(Fault::Unavailable) => {
            return Ok(status(
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable (fault proxy)",
            ));
        }
        Some(Fault::ResetBefore) => return Err(Dropped),
        Some(Fault::ExpireContinue) => {
            let message = "The provided continue parameter is too old (fault proxy)";
            return Ok(status_reason(StatusCode::GONE, message, "Expired"));
        }
        Some(Fault::Delay) => {
            let delay = shared.config.lock().expect("config lock").delay;
            tokio::time::sleep(delay).await;
        }
        _ => {}
    }

    let response = match forward(shared, request, &target).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(target: "faults", %method, %target, "forwarding: {e:#}");
            shared
                .unreachable
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Ok(status(
                StatusCode::BAD_GATEWAY,
                "the fault proxy could not reach the API server",
            ));
        }
    };
    match fault {
        Some(Fault::TimeoutAfter | Fault::ResetAfter) => {
            // Wait for the whole answer, so the API server has certainly done the work.
            let _ = response.into_body().collect().await;
            if fault == Some(Fault::ResetAfter) {
                return Err(Dropped);
            }
            Ok(status(StatusCode::GATEWAY_TIMEOUT, "Timeout (fault proxy)"))
        }
        Some(Fault::DropWatch) => {
            let after = {
                let mut rng = shared.rng.lock().expect("rng lock");
                Duration::from_millis(rng.u64(200..=2000))
            };
            let (parts, body) = response.into_parts();
            Ok(Response::from_parts(parts, Cut::new(body, after).boxed()))
        }
        _ => Ok(response.map(BodyExt::boxed)),
    }
}

/// `target` with its `limit` query parameter set to `limit` (lowered only).
fn with_limit(target: &str, limit: u32) -> String {
    let Some((path, query)) = target.split_once('?') else {
        return target.to_string();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some(("limit", v)) if v.parse::<u32>().is_ok_and(|v| v > limit) => {
                format!("limit={limit}")
            }
            _ => p.to_string(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

fn draw(shared: &Shared, is_watch: bool, is_continue: bool) -> Option<Fault> {
    let config = shared.config.lock().expect("config lock");
    let mut rng = shared.rng.lock().expect("rng lock");
    if config.rate <= 0.0 || rng.f64() >= config.rate {
        return None;
    }
    let eligible: Vec<(Fault, u32)> = config
        .mix
        .iter()
        .copied()
        .filter(|(f, w)| {
            *w > 0
                && (is_watch || *f != Fault::DropWatch)
                && (is_continue || *f != Fault::ExpireContinue)
        })
        .collect();
    let total: u32 = eligible.iter().map(|(_, w)| w).sum();
    if total == 0 {
        return None;
    }
    let mut pick = rng.u32(0..total);
    for (fault, weight) in eligible {
        if pick < weight {
            return Some(fault);
        }
        pick -= weight;
    }
    None
}

async fn forward(
    shared: &Shared,
    request: Request<Incoming>,
    target: &str,
) -> Result<Response<Incoming>> {
    let (mut parts, body) = request.into_parts();
    let method = parts.method.clone();
    let body = body
        .collect()
        .await
        .context("reading the request body")?
        .to_bytes();
    let mut uri = shared.upstream.clone().into_parts();
    uri.path_and_query = Some(if target.is_empty() { "/" } else { target }.parse()?);
    parts.uri = Uri::from_parts(uri)?;
    parts.headers.remove(hyper::header::HOST);
    let response = shared
        .client
        .request(Request::from_parts(parts, Full::new(body)))
        .await
        .context("sending to the API server")?;
    shared.forwarded.lock().expect("log lock").push(Forwarded {
        method: method.to_string(),
        target: target.to_string(),
        status: response.status().as_u16(),
    });
    Ok(response)
}

fn status(code: StatusCode, message: &str) -> Response<ProxyBody> {
    status_reason(code, message, code.canonical_reason().unwrap_or(""))
}

/// A `metav1.Status` answer as the API server writes it.
fn status_reason(code: StatusCode, message: &str, reason: &str) -> Response<ProxyBody> {
    let mut response = Response::new(status_body(code, message, reason));
    *response.status_mut() = code;
    response.headers_mut().insert(
        "content-type",
        "application/json".parse().expect("a header value"),
    );
    response
}

fn status_body(code: StatusCode, message: &str, reason: &str) -> ProxyBody {
    let body = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    })
    .to_string();
    Full::new(Bytes::from(body))
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// A body that ends with an error once `after` has passed: a watch dropped mid-stream.
struct Cut {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl Cut {
    fn new(inner: Incoming, after: Duration) -> Cut {
        Cut {
            inner,
            deadline: Box::pin(tokio::time::sleep(after)),
        }
    }
}

impl Body for Cut {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        if self.deadline.as_mut().poll(cx).is_ready() {
            // Ending the body early leaves the chunked stream without its last chunk: the client
            // sees the watch break, as when a load balancer drops it.
            return Poll::Ready(None);
        }
        Pin::new(&mut self.inner).poll_frame(cx)
    }
}
