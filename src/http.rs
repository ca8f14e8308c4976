//! The few HTTP requests to services other than the API server: Prometheus' alerts (the health
//! gate) and the Pushgateway (metrics). Built on the HTTP stack kube already brings (hyper,
//! hyper-util's client, rustls with the system's roots), so no second HTTP client is compiled.
//!
//! A URL's user information (`https://user:password@host`) is sent as HTTP Basic
//! authentication, never echoed: every text showing a URL goes through [`crate::redact`].

use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// A base URL given by a flag (`--prometheus-url`, `--pushgateway-url`): http or https, with a
/// host, maybe a path prefix (`https://host/prometheus`), no query.
#[derive(Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// Without user information and without a trailing `/`.
    base: String,
    /// `user:password` of the URL, sent as Basic authentication.
    basic: Option<String>,
}

impl std::fmt::Debug for BaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.base)
    }
}

impl std::fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.base)
    }
}

impl BaseUrl {
    /// Parses `text`; the error says what is wrong, without echoing credentials.
    pub fn parse(text: &str) -> Result<BaseUrl, String> {
        let text = text.trim();
        let (scheme, rest) = text
            .split_once("://")
            .ok_or("not a URL: expected http://HOST[:PORT][/PATH] or https://...")?;
        if scheme != "http" && scheme != "https" {
            return Err(format!("scheme `{scheme}`: only http and https"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (basic, host) = match authority.rsplit_once('@') {
            Some((user, host)) => (Some(user.to_string()), host),
            None => (None, authority),
        };
        if let Some(user) = &basic {
            // The password (or the whole user information) never shows in any output.
            crate::redact::register(user.split_once(':').map_or(user.as_str(), |(_, p)| p));
        }
        if host.is_empty() {
            return Err("no host".into());
        }
        if path.contains(['?', '#']) {
            return Err("a query or fragment: give the base URL only".into());
        }
        let base = format!("{scheme}://{host}{}", path.trim_end_matches('/'));
        base.parse::<Uri>()
            .map_err(|e| format!("not a valid URL ({e})"))?;
        Ok(BaseUrl { base, basic })
    }

    /// The URL of `path` (starting with `/`) under this base.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// An answer: the status and the body.
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

/// The most bytes of an answer read (an alerts list of a big Prometheus is well below).
const MAX_BODY: usize = 16 << 20;

/// One request to `base` + `path` within `timeout` (connecting, sending and reading the answer).
/// The error is in words, for a message that names the URL.
pub async fn request(
    base: &BaseUrl,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<Answer, String> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| format!("no TLS root certificates ({e})"))?
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    let uri: Uri = base
        .join(path)
        .parse()
        .map_err(|e| format!("not a valid URL ({e})"))?;
    let mut req = Request::builder().method(method).uri(uri).header(
        "user-agent",
        concat!("istio-rollout/", env!("CARGO_PKG_VERSION")),
    );
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if let Some(basic) = &base.basic {
        let token = base64::engine::general_purpose::STANDARD.encode(basic);
        req = req.header("authorization", format!("Basic {token}"));
    }
    let req = req
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let call = async {
        let resp = client.request(req).await.map_err(|e| describe(&e))?;
        let status = resp.status().as_u16();
        let limited = http_body_util::Limited::new(resp.into_body(), MAX_BODY);
        let body = limited
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        Ok(Answer { status, body })
    };
    tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| format!("no answer within {timeout:?}"))?
}

/// A client error and its causes in words (`connection refused`, not a debug dump).
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut next = e.source();
    while let Some(s) = next {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        next = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_keep_their_path_and_lose_their_credentials() {
        let u = BaseUrl::parse("http://prometheus.monitoring:9090/").unwrap();
        assert_eq!(
            u.join("/api/v1/alerts"),
            "http://prometheus.monitoring:9090/api/v1/alerts"
        );
        let u = BaseUrl::parse("https://me:s3cr3t-pw@host/prom/").unwrap();
        assert_eq!(u.to_string(), "https://host/prom");
        assert_eq!(format!("{u:?}"), "https://host/prom");
        assert_eq!(u.basic.as_deref(), Some("me:s3cr3t-pw"));
        assert_eq!(crate::redact::text("s3cr3t-pw"), crate::redact::MARK);
    }

    #[test]
    fn bad_urls_are_refused_in_words() {
        for (bad, why) in [
            ("prometheus:9090", "not a URL"),
            ("ftp://host", "only http and https"),
            ("http://", "no host"),
            ("http://host/x?y=1", "query"),
            ("http://ho st", "not a valid URL"),
        ] {
            let e = BaseUrl::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
