//! HTTP calls made by flows (`api_call` nodes, webhook actions), behind an SSRF guard: only http(s);
//! the host's addresses are resolved and must all be public (no loopback, private, link-local or
//! cloud-metadata, CGNAT, multicast, unspecified) unless the host is listed in
//! `flows.api_allowed_hosts`; the connection is pinned to the addresses checked (DNS rebinding cannot
//! switch it), redirects are not followed, the time is bounded and the response size capped.

use async_trait::async_trait;
use futures_util::StreamExt;
use pytake_actors::OrgId;
use pytake_actors::flow::ApiOutcome;
use pytake_actors::flow::engine::HttpRequest;
use pytake_actors::ports::HttpCaller;
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub struct FlowHttp {
    /// `host` or `host:port` entries exempt from the address check (e.g. an internal CRM).
    allowed_hosts: Vec<String>,
    max_response_bytes: usize,
}

impl FlowHttp {
    pub fn new(allowed_hosts: Vec<String>, max_response_bytes: usize) -> Self {
        FlowHttp { allowed_hosts: allowed_hosts.into_iter().map(|h| h.to_lowercase()).collect(), max_response_bytes }
    }
}

/// Whether an address is on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local() // includes 169.254.169.254, the cloud metadata address
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1])) // CGNAT
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
                || (o[0] == 198 && (18..20).contains(&o[1])) // benchmarking
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
                || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("only http and https URLs may be called")]
    Scheme,
    #[error("the URL is not valid: {0}")]
    Url(String),
    #[error("`{0}` does not resolve")]
    Resolve(String),
    #[error(
        "`{host}` resolves to {ip}, a private or reserved address; list the host in flows.api_allowed_hosts to allow it"
    )]
    Private { host: String, ip: IpAddr },
}

impl FlowHttp {
    /// The addresses a URL may be reached at, or why it may not.
    pub async fn vet(&self, url: &url::Url) -> Result<(String, Vec<SocketAddr>), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused::Scheme);
        }
        let host =
            url.host_str().ok_or_else(|| Refused::Url("no host".into()))?.trim_matches(['[', ']']).to_lowercase();
        let port = url.port_or_known_default().unwrap_or(80);
        let addrs: Vec<SocketAddr> =
            tokio::net::lookup_host((host.as_str(), port)).await.map_err(|_| Refused::Resolve(host.clone()))?.collect();
        if addrs.is_empty() {
            return Err(Refused::Resolve(host));
        }
        let allowed = self.allowed_hosts.iter().any(|a| *a == host || *a == format!("{host}:{port}"));
        if !allowed && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
            return Err(Refused::Private { host, ip: bad.ip() });
        }
        Ok((host, addrs))
    }
}

#[async_trait]
impl HttpCaller for FlowHttp {
    async fn call(&self, org: OrgId, req: &HttpRequest) -> ApiOutcome {
        let err = |e: String| ApiOutcome::Err { error: e };
        let url = match url::Url::parse(&req.url) {
            Ok(u) => u,
            Err(e) => return err(Refused::Url(e.to_string()).to_string()),
        };
        let (host, addrs) = match self.vet(&url).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(%org, url = %req.url, reason = %e, "flow API call refused");
                return err(e.to_string());
            }
        };
        let timeout = Duration::from_secs(req.timeout_secs.clamp(1, 30));
        let client = match reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .resolve_to_addrs(&host, &addrs)
            .user_agent("PyTake-Flow/1")
            .build()
        {
            Ok(c) => c,
            Err(e) => return err(format!("cannot build the HTTP client: {e}")),
        };
        let method = reqwest::Method::from_bytes(req.method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut builder = client.request(method, url).query(&req.query);
        for (k, v) in &req.headers {
            if let (Ok(name), Ok(value)) =
                (reqwest::header::HeaderName::from_bytes(k.as_bytes()), reqwest::header::HeaderValue::from_str(v))
            {
                builder = builder.header(name, value);
            }
        }
        builder = match &req.body {
            Some(Value::String(s)) => builder.header("content-type", "text/plain; charset=utf-8").body(s.clone()),
            Some(json) => builder.json(json),
            None => builder,
        };
        let response = match builder.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return err(format!("timed out after {} s", timeout.as_secs())),
            Err(e) => return err(format!("request failed: {e}")),
        };
        let status = response.status().as_u16();
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => {
                    if body.len() + bytes.len() > self.max_response_bytes {
                        return err(format!("the response is larger than {} bytes", self.max_response_bytes));
                    }
                    body.extend_from_slice(&bytes);
                }
                Err(e) => return err(format!("reading the response failed: {e}")),
            }
        }
        let parsed = serde_json::from_slice::<Value>(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        if status >= 400 {
            let snippet: String = String::from_utf8_lossy(&body).chars().take(200).collect();
            return err(format!("HTTP {status}: {snippet}"));
        }
        ApiOutcome::Ok { status, body: parsed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_reserved_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "224.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn loopback_and_odd_schemes_are_refused_unless_allowed() {
        let strict = FlowHttp::new(vec![], 1024);
        assert!(matches!(
            strict.vet(&url::Url::parse("http://127.0.0.1:9/x").unwrap()).await,
            Err(Refused::Private { .. })
        ));
        assert!(matches!(
            strict.vet(&url::Url::parse("http://localhost:9/x").unwrap()).await,
            Err(Refused::Private { .. })
        ));
        assert!(matches!(strict.vet(&url::Url::parse("file:///etc/passwd").unwrap()).await, Err(Refused::Scheme)));
        let allowing = FlowHttp::new(vec!["127.0.0.1:9".into()], 1024);
        assert!(allowing.vet(&url::Url::parse("http://127.0.0.1:9/x").unwrap()).await.is_ok());
    }
}
