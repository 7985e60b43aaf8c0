//! HTTP checks. The request is made here, on the controller, through a TCP
//! connection that the transport opens as seen from the host (an SSH port
//! forward over the master connection), so `http://localhost/` is the host's
//! own web server and the host needs no HTTP client. Plain HTTP only;
//! redirects are not followed (the status is the first response's).

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use crate::verify::library::Args;
use crate::verify::library::expect;
use crate::verify::world::{Failure, FailureKind, HostWorld, Verdict};

use super::file::excerpt;

/// How much of a body is read.
const MAX_BODY: usize = 4 * 1024 * 1024;
/// How long a request may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A parsed `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (80 by default).
    pub port: u16,
    /// What goes in the `Host` header.
    pub authority: String,
    /// Path and query.
    pub path: String,
}

/// Parse an `http://` URL.
pub fn parse_url(text: &str) -> Result<Url, String> {
    let lower = text.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Err(format!(
            "'{text}': https is not supported (redgreen's HTTP checks speak plain HTTP); check the port with `port 443 should be listening`, or check over HTTP"
        ));
    }
    if !lower.starts_with("http://") {
        return Err(format!("'{text}' is not an http:// URL"));
    }
    let rest = &text["http://".len()..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.is_empty() || authority.contains('@') {
        return Err(format!(
            "'{text}' has no host (or has a user name, which is not supported)"
        ));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("'{text}': unclosed '[' in the host"))?;
        (host.to_string(), after.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host.to_string(), Some(port)),
            None => (authority.to_string(), None),
        }
    };
    let port = match port {
        None | Some("") => 80,
        Some(port) => port
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("'{text}': '{port}' is not a port"))?,
    };
    let tail = tail.split('#').next().unwrap_or("");
    let path = if tail.is_empty() {
        "/".to_string()
    } else if tail.starts_with('?') {
        format!("/{tail}")
    } else {
        tail.to_string()
    };
    Ok(Url {
        host,
        port,
        authority: authority.to_string(),
        path,
    })
}

/// Validate: the first value is an http:// URL.
pub fn first_is_url(values: &[String]) -> Result<(), String> {
    parse_url(values.first().map_or("", String::as_str)).map(drop)
}

/// A response: status line and (the start of) the body.
struct Response {
    status: hyper::StatusCode,
    body: String,
}

async fn get(world: &mut HostWorld, text: &str) -> Result<Response, Failure> {
    let url = parse_url(text).map_err(Failure::input)?;
    let host = world.host_name().to_string();
    let stream = match world.connect_tcp(&url.host, url.port).await {
        Ok(stream) => stream,
        Err(failure) if failure.kind == FailureKind::Check => {
            let reason = failure
                .message
                .trim_start_matches(&format!("on {host}: "))
                .to_string();
            return Err(Failure::check(format!(
                "no HTTP answer from {text} on {host}: {reason}"
            )));
        }
        Err(failure) => return Err(failure),
    };
    let no_answer = |e: &dyn std::fmt::Display| {
        Failure::check(format!(
            "no HTTP answer from {text} on {host}: {e} (is anything listening on {}:{}?)",
            url.host, url.port
        ))
    };
    let exchange = async {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| no_answer(&e))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let request = hyper::Request::get(url.path.as_str())
            .header(hyper::header::HOST, url.authority.as_str())
            .header(hyper::header::USER_AGENT, "redgreen")
            .header(hyper::header::CONNECTION, "close")
            .body(Empty::<Bytes>::new())
            .map_err(|e| Failure::input(format!("'{text}': {e}")))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| no_answer(&e))?;
        let status = response.status();
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        while bytes.len() < MAX_BODY {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        bytes.extend_from_slice(data);
                    }
                }
                Some(Err(e)) => return Err(no_answer(&e)),
                None => break,
            }
        }
        Ok(Response {
            status,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    };
    tokio::time::timeout(TIMEOUT, exchange).await.map_err(|_| {
        Failure::check(format!(
            "{text} did not answer within {} s",
            TIMEOUT.as_secs()
        ))
    })?
}

fn status_text(status: hyper::StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// `{string} should respond with status {int}`
pub async fn status(world: &mut HostWorld, args: &Args) -> Verdict {
    let (url, wanted) = (args.text(0), args.int(1)?);
    let response = get(world, url).await?;
    let found = status_text(response.status);
    expect(
        args,
        i64::from(response.status.as_u16()) == wanted,
        format!("expected status {wanted} from {url}, found {found}"),
        format!("expected a status other than {wanted} from {url}, found {found}"),
    )
}

/// `{string} should respond with a body containing {string}`
pub async fn body_contains(world: &mut HostWorld, args: &Args) -> Verdict {
    let (url, wanted) = (args.text(0), args.text(1));
    let response = get(world, url).await?;
    let found = status_text(response.status);
    expect(
        args,
        response.body.contains(wanted),
        format!(
            "expected the body from {url} to contain {wanted:?}; it does not (status {found}):\n{}",
            excerpt(&response.body)
        ),
        format!("expected the body from {url} not to contain {wanted:?}; it does (status {found})"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        assert_eq!(
            parse_url("http://localhost/").unwrap(),
            Url {
                host: "localhost".into(),
                port: 80,
                authority: "localhost".into(),
                path: "/".into()
            }
        );
        let url = parse_url("http://127.0.0.1:8080/a/b?c=d#frag").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.path.as_str()),
            ("127.0.0.1", 8080, "/a/b?c=d")
        );
        let url = parse_url("HTTP://[::1]:81").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.path.as_str()),
            ("::1", 81, "/")
        );
        assert_eq!(parse_url("http://x?q").unwrap().path, "/?q");
        assert!(
            parse_url("https://localhost/")
                .unwrap_err()
                .contains("https is not supported")
        );
        assert!(parse_url("ftp://x/").is_err());
        assert!(parse_url("http://user@x/").is_err());
        assert!(parse_url("http://x:99999/").is_err());
    }
}
