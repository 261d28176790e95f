//! The HTTP transport for plain-`http://` endpoints: hyper with a socket that acknowledges
//! every response at once, and no TLS set-up.
//!
//! Ceph RGW writes a response's headers and its body in two writes with Nagle's algorithm
//! on: the body waits until the client has acknowledged the headers. On a kept-alive
//! connection Linux delays that acknowledgement (it hopes to piggyback it on the next
//! request), by 40 ms. Every small XML answer (versioning, Object Lock, a listing) cost
//! one such stall, ~0.1 s of a 0.5 s `worm ship` run on the local gateway. reqwest does
//! not expose its sockets, so for `http://` endpoints (local and test servers, trusted
//! networks) requests go through this transport: hyper's pooled client on a TCP stream
//! that sets `TCP_QUICKACK` after every read, which sends the pending acknowledgement at
//! once. It also reads no TLS root certificates (reqwest's client loads the system's at
//! build time, for each client). `https://` requests (credential services) go through
//! object_store's reqwest client, built on first use.
//!
//! Behaviour as with reqwest: one timeout for the whole request including its body,
//! a connect timeout, no redirects followed (the sink never relies on them), transport
//! errors classified for [`from_http`](crate::error::from_http) the way object_store
//! classifies reqwest's.

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::Uri;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use object_store::ClientOptions;
use object_store::client::{
    ClientConfigKey, HttpClient, HttpConnector as StoreConnector, HttpError, HttpErrorKind,
    HttpRequest, HttpRequestBody, HttpResponse, HttpResponseBody, HttpService, ReqwestConnector,
};
use tokio::net::TcpStream;

/// Makes each HTTP client object_store asks for: [`Transport`] when the endpoint is plain
/// HTTP, reqwest otherwise (unchanged for AWS and every `https://` endpoint), and also when
/// the environment names a proxy for plain HTTP, which reqwest honours and this transport
/// does not.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Connector {
    /// The endpoint is `http://`.
    pub plain: bool,
}

/// Whether the environment sets a proxy for `http://` URLs (reqwest's variables).
fn http_proxy_set() -> bool {
    ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
        .iter()
        .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()))
}

impl StoreConnector for Connector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        if self.plain && !http_proxy_set() {
            Ok(HttpClient::new(Transport::new(options)?))
        } else {
            ReqwestConnector::default().connect(options)
        }
    }
}

/// The `User-Agent` of requests this transport sends.
const USER_AGENT: &str = concat!("worm-s3/", env!("CARGO_PKG_VERSION"));

/// hyper for `http://` URLs, object_store's reqwest client (built on first use) for
/// `https://` ones.
#[derive(Debug)]
pub(crate) struct Transport {
    plain: Client<QuickAckConnector, HttpRequestBody>,
    allow_http: bool,
    timeout: Option<Duration>,
    options: ClientOptions,
    tls: OnceLock<Result<HttpClient, String>>,
}

impl Transport {
    /// A transport with `options`' timeouts and `allow_http`.
    pub fn new(options: &ClientOptions) -> object_store::Result<Self> {
        let duration = |key: ClientConfigKey| -> object_store::Result<Option<Duration>> {
            options
                .get_config_value(&key)
                .map(|v| {
                    humantime::parse_duration(&v).map_err(|e| object_store::Error::Generic {
                        store: "S3",
                        source: format!("{key:?} '{v}': {e}").into(),
                    })
                })
                .transpose()
        };
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(duration(ClientConfigKey::ConnectTimeout)?);
        let plain = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .build(QuickAckConnector(tcp));
        Ok(Transport {
            plain,
            allow_http: options
                .get_config_value(&ClientConfigKey::AllowHttp)
                .is_some_and(|v| v == "true"),
            timeout: duration(ClientConfigKey::Timeout)?,
            options: options.clone(),
            tls: OnceLock::new(),
        })
    }

    /// object_store's reqwest client, for `https://` URLs.
    fn tls(&self) -> Result<&HttpClient, HttpError> {
        self.tls
            .get_or_init(|| {
                ReqwestConnector::default()
                    .connect(&self.options)
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| HttpError::new(HttpErrorKind::Unknown, io::Error::other(e.clone())))
    }
}

#[async_trait]
impl HttpService for Transport {
    async fn call(&self, mut req: HttpRequest) -> Result<HttpResponse, HttpError> {
        if req.uri().scheme_str() != Some("http") {
            return self.tls()?.execute(req).await;
        }
        if !self.allow_http {
            return Err(HttpError::new(
                HttpErrorKind::Unknown,
                io::Error::other(format!(
                    "plain HTTP to {} is not allowed (AWS_ALLOW_HTTP=true, or allow_http, \
                     permits it)",
                    req.uri()
                )),
            ));
        }
        let deadline = self.timeout.map(|t| tokio::time::Instant::now() + t);
        // As reqwest's client did (server access logs show it).
        req.headers_mut()
            .entry(http::header::USER_AGENT)
            .or_insert(http::HeaderValue::from_static(USER_AGENT));
        let sent = self.plain.request(req);
        let resp = match deadline {
            Some(d) => tokio::time::timeout_at(d, sent)
                .await
                .map_err(|_| timed_out(self.timeout))?,
            None => sent.await,
        }
        .map_err(|e| {
            let kind = if e.is_connect() {
                HttpErrorKind::Connect
            } else {
                kind_of(&e)
            };
            HttpError::new(kind, e)
        })?;
        let (parts, body) = resp.into_parts();
        let body = Timed {
            body,
            deadline: deadline.map(|d| Box::pin(tokio::time::sleep_until(d))),
            timeout: self.timeout,
        };
        Ok(HttpResponse::from_parts(parts, HttpResponseBody::new(body)))
    }
}

fn timed_out(after: Option<Duration>) -> HttpError {
    HttpError::new(
        HttpErrorKind::Timeout,
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "request timed out after {:?}",
                after.unwrap_or(Duration::ZERO)
            ),
        ),
    )
}

/// What went wrong in a request that was sent (or a body being read), as object_store
/// tells reqwest's errors apart: a dropped or cut connection is `Interrupted`, a timeout
/// `Timeout`, a misuse of the client (a bug, not the network) `Unknown`, anything else
/// `Request`.
fn kind_of(e: &(dyn StdError + 'static)) -> HttpErrorKind {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(h) = c.downcast_ref::<hyper::Error>() {
            if h.is_timeout() {
                return HttpErrorKind::Timeout;
            }
            if h.is_closed()
                || h.is_incomplete_message()
                || h.is_body_write_aborted()
                || h.is_canceled()
            {
                return HttpErrorKind::Interrupted;
            }
            if h.is_user() {
                return HttpErrorKind::Unknown;
            }
        }
        if let Some(io) = c.downcast_ref::<io::Error>() {
            return match io.kind() {
                io::ErrorKind::TimedOut => HttpErrorKind::Timeout,
                _ => HttpErrorKind::Interrupted,
            };
        }
        cur = c.source();
    }
    HttpErrorKind::Request
}

/// A response body that fails with a timeout at the request's deadline.
struct Timed {
    body: Incoming,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    timeout: Option<Duration>,
}

impl Body for Timed {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(|e| HttpError::new(kind_of(&e), e))));
        }
        if let Some(d) = &mut this.deadline
            && d.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Some(Err(timed_out(this.timeout))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// hyper's TCP connector, its streams wrapped in [`QuickAck`].
#[derive(Debug, Clone)]
struct QuickAckConnector(HttpConnector);

impl tower_service::Service<Uri> for QuickAckConnector {
    type Response = QuickAck;
    type Error = <HttpConnector as tower_service::Service<Uri>>::Error;
    type Future = Pin<Box<dyn Future<Output = Result<QuickAck, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let connecting = self.0.call(dst);
        Box::pin(async move { Ok(QuickAck(connecting.await?)) })
    }
}

/// A TCP stream that acknowledges what it received right after each read.
struct QuickAck(TokioIo<TcpStream>);

impl QuickAck {
    /// Leave delayed-ACK ("pingpong") mode and send any acknowledgement that is pending.
    /// Linux leaves quick-ACK mode again on its own, hence once per read. Best effort: a
    /// failure only means the old 40 ms wait.
    #[cfg(target_os = "linux")]
    fn ack_now(&self) {
        use std::os::fd::AsRawFd;
        let on: libc::c_int = 1;
        // SAFETY: a valid socket descriptor owned by the stream we borrow, and a pointer
        // to a live c_int with its size.
        unsafe {
            libc::setsockopt(
                self.0.inner().as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_QUICKACK,
                (&raw const on).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn ack_now(&self) {}
}

impl hyper::rt::Read for QuickAck {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let read = Pin::new(&mut self.0).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = read {
            self.ack_now();
        }
        read
    }
}

impl hyper::rt::Write for QuickAck {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
}

impl Connection for QuickAck {
    fn connected(&self) -> Connected {
        self.0.connected()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::time::Instant;

    use super::*;

    /// A server that answers like Ceph RGW: headers and body in two writes, Nagle on. On a
    /// kept-alive connection the body then waits for the client's acknowledgement of the
    /// headers, which Linux delays by 40 ms unless the client asks for it at once.
    fn nagle_server(requests: usize) -> std::net::SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut out = stream;
            for _ in 0..requests {
                let mut line = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap() == 0 {
                        return;
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let body = "<?xml version=\"1.0\"?><VersioningConfiguration/>";
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/xml\r\n\r\n",
                    body.len()
                );
                out.write_all(head.as_bytes()).unwrap();
                out.write_all(body.as_bytes()).unwrap();
            }
        });
        addr
    }

    /// Eight small answers on one connection take far less than the 7 × 40 ms that
    /// delayed acknowledgements cost reqwest's client here.
    #[tokio::test]
    async fn small_answers_on_a_kept_alive_connection_do_not_wait_for_delayed_acks() {
        const N: usize = 8;
        let addr = nagle_server(N);
        let options = ClientOptions::new()
            .with_allow_http(true)
            .with_timeout(Duration::from_secs(10));
        let client = HttpClient::new(Transport::new(&options).unwrap());
        let started = Instant::now();
        for _ in 0..N {
            let req = http::Request::get(format!("http://{addr}/bucket?versioning"))
                .body(HttpRequestBody::empty())
                .unwrap();
            let resp = client.execute(req).await.unwrap();
            assert_eq!(resp.status(), 200);
            let body = resp.into_body().bytes().await.unwrap();
            assert!(body.ends_with(b"<VersioningConfiguration/>"));
        }
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(200),
            "{N} requests took {took:?}"
        );
    }

    /// The whole request, body included, is bounded by the timeout; what a slow server
    /// causes is transient.
    #[tokio::test]
    async fn a_body_that_never_comes_times_out() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = std::io::Read::read(&mut stream, &mut buf);
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
                .unwrap();
            std::thread::sleep(Duration::from_secs(2));
        });
        let options = ClientOptions::new()
            .with_allow_http(true)
            .with_timeout(Duration::from_millis(300));
        let client = HttpClient::new(Transport::new(&options).unwrap());
        let req = http::Request::get(format!("http://{addr}/b"))
            .body(HttpRequestBody::empty())
            .unwrap();
        let resp = client.execute(req).await.unwrap();
        let e = resp.into_body().bytes().await.unwrap_err();
        assert_eq!(e.kind(), HttpErrorKind::Timeout, "{e}");
        // Nothing listens any more: a connect error.
        server.join().unwrap();
        let req = http::Request::get(format!("http://{addr}/b"))
            .body(HttpRequestBody::empty())
            .unwrap();
        let e = client.execute(req).await.unwrap_err();
        assert_eq!(e.kind(), HttpErrorKind::Connect, "{e}");
    }

    /// A client that may not speak plain HTTP refuses it, as reqwest's `https_only` does.
    #[tokio::test]
    async fn plain_http_is_refused_unless_allowed() {
        let client =
            HttpClient::new(Transport::new(&ClientOptions::new().with_allow_http(false)).unwrap());
        let req = http::Request::get("http://127.0.0.1:9/b")
            .body(HttpRequestBody::empty())
            .unwrap();
        let e = client.execute(req).await.unwrap_err();
        assert_eq!(e.kind(), HttpErrorKind::Unknown, "{e}");
        // It says which URL, and what would allow it.
        let said = format!("{e} {:?}", std::error::Error::source(&e));
        assert!(
            said.contains("http://127.0.0.1:9/b") && said.contains("AWS_ALLOW_HTTP"),
            "{said}"
        );
    }
}
