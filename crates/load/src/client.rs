//! The target (loopback only) and one keep-alive HTTP/1.1 connection to it.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// Where the server listens: `http://HOST:PORT`, resolved to loopback addresses only.
#[derive(Clone, Debug)]
pub struct Target {
    pub addr: SocketAddr,
    /// The `Host` header: the authority as given.
    pub authority: String,
}

impl Target {
    /// Parses `http://HOST[:PORT][/]` and refuses any host that resolves to an address
    /// outside the loopback range (127.0.0.0/8, ::1).
    pub async fn parse(url: &str) -> Result<Target, String> {
        let authority = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: only http:// targets are supported"))?
            .trim_end_matches('/');
        if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
            return Err(format!("{url}: give only http://HOST:PORT"));
        }
        let with_port = if has_port(authority) {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(&with_port)
            .await
            .map_err(|e| format!("cannot resolve {authority}: {e}"))?
            .collect();
        let addr = only_loopback(&addrs).map_err(|e| format!("{url}: {e}"))?;
        Ok(Target {
            addr,
            authority: authority.to_owned(),
        })
    }
}

fn has_port(authority: &str) -> bool {
    match authority.rsplit_once(':') {
        // `[::1]:8080` has a port, `[::1]` has not.
        Some((host, port)) => {
            !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!host.starts_with('[') || host.ends_with(']'))
        }
        None => false,
    }
}

/// The first address, when every address is a loopback one.
pub fn only_loopback(addrs: &[SocketAddr]) -> Result<SocketAddr, String> {
    let first = *addrs.first().ok_or("the host resolves to no address")?;
    if let Some(outside) = addrs.iter().find(|a| !a.ip().is_loopback()) {
        return Err(format!(
            "refusing {}: not a loopback address (this tool only loads a server on this machine)",
            outside.ip()
        ));
    }
    Ok(first)
}

/// A response: its status and whole body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> Result<Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("not JSON ({e})"))
    }
}

/// One connection, kept alive between requests and opened again after a failure.
pub struct Conn {
    target: Target,
    sender: Option<SendRequest<Full<Bytes>>>,
    /// How many times a connection was (re)opened.
    pub connects: u64,
}

impl Conn {
    pub fn new(target: &Target) -> Conn {
        Conn {
            target: target.clone(),
            sender: None,
            connects: 0,
        }
    }

    async fn connect(&mut self) -> Result<SendRequest<Full<Bytes>>, String> {
        let stream = tokio::net::TcpStream::connect(self.target.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("connect: {e}"))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        self.connects += 1;
        Ok(sender)
    }

    /// Sends one request; a transport failure drops the connection (the next request
    /// opens a new one) and comes back as `Err`.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Bytes>,
    ) -> Result<Answer, String> {
        let mut sender = match self.sender.take() {
            Some(sender) if !sender.is_closed() => sender,
            _ => self.connect().await?,
        };
        sender
            .ready()
            .await
            .map_err(|e| format!("not ready: {e}"))?;
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, &self.target.authority);
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| format!("bad request: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("send: {e}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        self.sender = Some(sender);
        Ok(Answer { status, body })
    }

    pub async fn get(&mut self, path: &str, token: Option<&str>) -> Result<Answer, String> {
        self.send(Method::GET, path, token, None).await
    }

    pub async fn post_json(
        &mut self,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Result<Answer, String> {
        let bytes = Bytes::from(serde_json::to_vec(body).map_err(|e| e.to_string())?);
        self.send(Method::POST, path, token, Some(bytes)).await
    }

    /// A GET during setup: must answer 200 with JSON.
    pub async fn get_json(&mut self, path: &str, token: Option<&str>) -> Result<Value, String> {
        let answer = self.get(path, token).await?;
        if answer.status != StatusCode::OK {
            return Err(format!(
                "GET {path}: {} {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            ));
        }
        answer.json().map_err(|e| format!("GET {path}: {e}"))
    }
}

/// Percent-encodes a query value (everything but RFC 3986 unreserved characters).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_are_accepted() {
        let ok: Vec<SocketAddr> =
            vec!["127.0.0.1:80".parse().unwrap(), "[::1]:80".parse().unwrap()];
        assert_eq!(only_loopback(&ok).unwrap(), ok[0]);
        assert!(only_loopback(&["127.8.9.10:1".parse().unwrap()]).is_ok());
        for outside in [
            "10.0.0.1:80",
            "192.168.1.2:80",
            "8.8.8.8:53",
            "[2001:db8::1]:80",
            "0.0.0.0:80",
        ] {
            let error = only_loopback(&[outside.parse().unwrap()]).unwrap_err();
            assert!(error.contains("not a loopback"), "{outside}: {error}");
        }
        let mixed: Vec<SocketAddr> = vec![
            "127.0.0.1:80".parse().unwrap(),
            "10.1.1.1:80".parse().unwrap(),
        ];
        assert!(only_loopback(&mixed).is_err());
        assert!(only_loopback(&[]).is_err());
    }

    #[tokio::test]
    async fn targets_parse_and_refuse() {
        let target = Target::parse("http://127.0.0.1:8080/").await.unwrap();
        assert_eq!(target.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(target.authority, "127.0.0.1:8080");
        assert_eq!(
            Target::parse("http://[::1]:9").await.unwrap().addr.port(),
            9
        );
        assert_eq!(
            Target::parse("http://127.0.0.1").await.unwrap().addr.port(),
            80
        );
        for bad in [
            "https://127.0.0.1:1",
            "http://10.0.0.1:80",
            "http://127.0.0.1:1/api",
            "http://192.168.0.1",
        ] {
            assert!(Target::parse(bad).await.is_err(), "{bad}");
        }
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(encode("general-practice"), "general-practice");
        assert_eq!(encode("a b&c"), "a%20b%26c");
        assert_eq!(
            encode("2026-01-01T00:00:00+01:00"),
            "2026-01-01T00%3A00%3A00%2B01%3A00"
        );
    }
}
