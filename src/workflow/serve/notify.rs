//! `--notify-url`: each event a JSON POST to a webhook (http:// or https://,
//! checked against the system's certificate authorities), sent from a task
//! of its own (a round never waits for it), retried with backoff.

use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::rustls;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// How many times an event is tried.
const TRIES: u32 = 5;

/// Where a webhook is.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// Over TLS (https://).
    pub tls: bool,
    /// The host's name (for TLS, the name its certificate must have).
    pub host: String,
    /// `host:port` to connect to.
    pub authority: String,
    /// The path (and query).
    pub path: String,
}

impl Webhook {
    /// Parse an `http[s]://HOST[:PORT]/PATH` URL.
    pub fn parse(url: &str) -> Result<Webhook, String> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| format!("'{url}' is not a URL: {e}"))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(other) => {
                return Err(format!(
                    "'{url}': {other}:// is not supported; give an http:// or https:// URL"
                ));
            }
            None => return Err(format!("'{url}' has no scheme; write https://HOST/PATH")),
        };
        let host = uri
            .host()
            .ok_or_else(|| format!("'{url}' has no host"))?
            .to_string();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(Webhook {
            tls,
            authority: format!("{host}:{port}"),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            path: uri
                .path_and_query()
                .map_or("/".to_string(), |p| p.as_str().to_string()),
        })
    }
}

/// Sends events in order, from its own task.
pub struct Notifier {
    events: tokio::sync::mpsc::UnboundedSender<String>,
}

impl Notifier {
    /// Start sending to `webhook`; `failed` hears of an event given up on.
    pub fn start(webhook: Webhook, failed: impl Fn(&str) + Send + 'static) -> Notifier {
        let (events, mut queue) = tokio::sync::mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            let tls = webhook.tls.then(connector);
            while let Some(event) = queue.recv().await {
                let mut wait = Duration::from_secs(1);
                for attempt in 1..=TRIES {
                    match post(&webhook, tls.as_ref(), &event).await {
                        Ok(()) => break,
                        Err(e) if attempt == TRIES => failed(&format!(
                            "the webhook {}{} did not take an event after {TRIES} tries: {e}",
                            webhook.authority, webhook.path
                        )),
                        Err(_) => {
                            tokio::time::sleep(wait).await;
                            wait *= 2;
                        }
                    }
                }
            }
        });
        Notifier { events }
    }

    /// Queue `event` (JSON); never waits.
    pub fn send(&self, event: String) {
        let _ = self.events.send(event);
    }
}

/// A TLS client that trusts the system's certificate authorities (and
/// `SSL_CERT_FILE` / `SSL_CERT_DIR`, as OpenSSL does).
fn connector() -> Result<tokio_rustls::TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(
            "no certificate authority found on this machine (install ca-certificates)".into(),
        );
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// One POST; an answer other than 2xx is a failure.
async fn post(
    webhook: &Webhook,
    tls: Option<&Result<tokio_rustls::TlsConnector, String>>,
    event: &str,
) -> Result<(), String> {
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect(&webhook.authority)
            .await
            .map_err(|e| e.to_string())?;
        let stream: crate::transport::Tunnel = match tls {
            None => Box::pin(tcp),
            Some(connector) => {
                let connector = connector.as_ref().map_err(Clone::clone)?;
                let name = rustls::pki_types::ServerName::try_from(webhook.host.clone())
                    .map_err(|e| format!("{}: {e}", webhook.host))?;
                Box::pin(
                    connector
                        .connect(name, tcp)
                        .await
                        .map_err(|e| format!("TLS: {e}"))?,
                )
            }
        };
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let request = hyper::Request::post(webhook.path.as_str())
            .header(hyper::header::HOST, webhook.authority.as_str())
            .header(hyper::header::USER_AGENT, "redgreen")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::CONNECTION, "close")
            .body(Full::new(Bytes::from(event.to_string())))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("it answered {}", response.status()))
        }
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| "no answer within 10 s".to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_event_is_tried_again() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (got, mut bodies) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            // The first try gets a 503, the second a 200.
            for answer in ["503 Service Unavailable", "200 OK"] {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut request = Vec::new();
                let mut buffer = [0; 4096];
                while !String::from_utf8_lossy(&request).contains("}") {
                    let n = stream.read(&mut buffer).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&buffer[..n]);
                }
                let reply =
                    format!("HTTP/1.1 {answer}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                stream.write_all(reply.as_bytes()).await.unwrap();
                let _ = got.send((answer, String::from_utf8_lossy(&request).into_owned()));
            }
        });
        let webhook = Webhook::parse(&format!("http://127.0.0.1:{port}/hook")).unwrap();
        let notifier = Notifier::start(webhook, |failure| panic!("{failure}"));
        let started = std::time::Instant::now();
        notifier.send("{\"text\": \"hello\"}".into());
        let (first, request) = bodies.recv().await.unwrap();
        assert_eq!(first, "503 Service Unavailable");
        assert!(request.starts_with("POST /hook HTTP/1.1"), "{request}");
        let (second, request) = bodies.recv().await.unwrap();
        assert_eq!(second, "200 OK");
        assert!(request.ends_with("{\"text\": \"hello\"}"), "{request}");
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "it waited before trying again"
        );
    }

    #[test]
    fn only_http_and_https_urls_are_taken() {
        let hook = Webhook::parse("http://127.0.0.1:8080/hook?x=1").unwrap();
        assert_eq!(hook.authority, "127.0.0.1:8080");
        assert_eq!(hook.path, "/hook?x=1");
        let tls = Webhook::parse("https://hooks.example/services/T/B").unwrap();
        assert!(tls.tls && tls.authority == "hooks.example:443" && tls.host == "hooks.example");
        assert!(
            Webhook::parse("ftp://hooks.example/x")
                .unwrap_err()
                .contains("https://")
        );
        assert!(Webhook::parse("nope").is_err());
    }
}
