//! Listeners: TLS or plaintext, HTTP/1.1 or HTTP/2 (h2c by prior knowledge, or ALPN),
//! the connection limit, the slow-client and HTTP/2 idle timeouts, and graceful shutdown:
//! stop accepting, finish the requests in flight, then close every stream with its final
//! batch.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::ServeConfig;
use crate::handler::{self, App};
use crate::metrics::Metrics;
use crate::streams::Streams;

/// The HTTP/2 connection preface a prior-knowledge (h2c) client starts with.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How a server run ended.
#[derive(Debug)]
pub struct Summary {
    /// Each service's close: `Ok` with the records stored, or what was left.
    pub closed: Vec<(
        String,
        Result<worm_core::pipeline::CloseReport, worm_core::Error>,
    )>,
    /// The final metrics text.
    pub metrics: String,
    /// Each service's final counters (per store in [`Stats::targets`]), sorted by service.
    ///
    /// [`Stats::targets`]: worm_core::Stats::targets
    pub stats: Vec<(String, worm_core::Stats)>,
}

/// The addresses actually bound (port 0 resolved), reported once listening.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// The HTTP listener.
    pub http: Option<SocketAddr>,
    /// The gRPC listener.
    pub grpc: Option<SocketAddr>,
}

/// Serve until `shutdown` completes, then drain and close every stream.
/// `on_listen` is told the bound addresses once both listeners are up.
pub async fn serve(
    cfg: ServeConfig,
    streams: Streams,
    shutdown: impl Future<Output = ()>,
    on_listen: impl FnOnce(Bound),
) -> Result<Summary, String> {
    cfg.check()?;
    let tls = cfg
        .tls
        .as_ref()
        .map(crate::tls::config)
        .transpose()?
        .map(TlsAcceptor::from);
    let bind = |a: Option<SocketAddr>, what: &'static str| async move {
        match a {
            None => Ok(None),
            Some(a) => TcpListener::bind(a)
                .await
                .map(Some)
                .map_err(|e| format!("cannot listen on {a} ({what}): {e}")),
        }
    };
    let http = bind(cfg.http, "--listen").await?;
    let grpc = bind(cfg.grpc, "--grpc-listen").await?;
    let addr = |l: &Option<TcpListener>| l.as_ref().and_then(|l| l.local_addr().ok());
    let bound = Bound {
        http: addr(&http),
        grpc: addr(&grpc),
    };
    let app = Arc::new(App {
        cfg,
        streams,
        metrics: Metrics::default(),
        closing: Default::default(),
    });
    let conns = Arc::new(Semaphore::new(app.cfg.limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for l in [http, grpc].into_iter().flatten() {
        tasks.spawn(accept_loop(
            l,
            app.clone(),
            tls.clone(),
            conns.clone(),
            stop_rx.clone(),
        ));
    }
    on_listen(bound);
    shutdown.await;
    tracing::info!(target: "worm", "worm serve: shutting down: no new connections, draining requests");
    app.closing.store(true, Relaxed);
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    // Every connection has ended (accept loops wait for theirs): no request is logging.
    let closed = app.streams.close().await;
    let stats = app.streams.stats();
    let metrics = app.metrics.render(&stats);
    Ok(Summary {
        closed,
        metrics,
        stats,
    })
}

async fn accept_loop(
    listener: TcpListener,
    app: Arc<App>,
    tls: Option<TlsAcceptor>,
    conns: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    let mut open = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => break,
        };
        // Reap finished connection tasks so the set does not grow.
        while open.try_join_next().is_some() {}
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors and the like: wait a little rather than spin.
                tracing::warn!(target: "worm", error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = conns.clone().try_acquire_owned() else {
            app.metrics.connections_refused.fetch_add(1, Relaxed);
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let tls = tls.clone();
        let stop = stop.clone();
        open.spawn(async move {
            app.metrics.connections_open.fetch_add(1, Relaxed);
            if let Err(e) = connection(tcp, &app, tls, stop).await {
                tracing::debug!(target: "worm", %peer, error = %e, "connection ended");
            }
            app.metrics.connections_open.fetch_sub(1, Relaxed);
            drop(permit);
        });
    }
    drop(listener);
    while open.join_next().await.is_some() {}
}

async fn connection(
    tcp: TcpStream,
    app: &Arc<App>,
    tls: Option<TlsAcceptor>,
    stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let limit = app.cfg.limits.header_timeout;
    match tls {
        Some(acc) => {
            let s = tokio::time::timeout(limit, acc.accept(tcp))
                .await
                .map_err(|_| "TLS handshake timed out".to_string())?
                .map_err(|e| format!("TLS handshake: {e}"))?;
            let h2 = s.get_ref().1.alpn_protocol() == Some(b"h2");
            run(s, h2, app, stop).await
        }
        None => {
            let h2 = sniff_h2(&tcp, limit).await?;
            run(tcp, h2, app, stop).await
        }
    }
}

/// Whether a plaintext connection starts with the HTTP/2 preface, waiting at most `limit`
/// for its first bytes (a client that sends nothing is dropped).
async fn sniff_h2(tcp: &TcpStream, limit: Duration) -> Result<bool, String> {
    let mut buf = [0u8; 24];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let n = tokio::time::timeout_at(deadline, tcp.peek(&mut buf))
            .await
            .map_err(|_| "no request within the header timeout".to_string())?
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed before a request".into());
        }
        if buf[..n] != H2_PREFACE[..n] {
            return Ok(false);
        }
        if n == H2_PREFACE.len() {
            return Ok(true);
        }
        // A partial preface: wait for more bytes.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn run<S>(
    io: S,
    h2: bool,
    app: &Arc<App>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc_app = app.clone();
    let io = TokioIo::new(io);
    let limits = &app.cfg.limits;
    if h2 {
        let activity = Arc::new(Activity::new());
        let act = activity.clone();
        let svc = service_fn(move |req| {
            let busy = Busy::new(act.clone());
            let reply = handler::handle(svc_app.clone(), req);
            async move {
                let r = reply.await;
                drop(busy);
                r
            }
        });
        let conn = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(Some(Duration::from_secs(30)))
            .keep_alive_timeout(limits.header_timeout)
            .max_concurrent_streams(64)
            .max_header_list_size(64 << 10)
            .serve_connection(io, svc);
        tokio::pin!(conn);
        let idle = limits.idle_timeout;
        loop {
            let since = activity.idle_since();
            tokio::select! {
                r = conn.as_mut() => return r.map_err(|e| e.to_string()),
                _ = stop.wait_for(|s| *s) => break,
                _ = tokio::time::sleep_until(since.unwrap_or_else(Instant::now) + idle) => {
                    if activity.idle_since().is_some_and(|t| t.elapsed() >= idle) {
                        tracing::debug!(target: "worm", "closing an HTTP/2 connection idle for {idle:?} (--idle-timeout)");
                        break;
                    }
                }
            }
        }
        // GOAWAY: requests in flight finish, new ones go to a new connection.
        conn.as_mut().graceful_shutdown();
        conn.await.map_err(|e| e.to_string())
    } else {
        let svc = service_fn(move |req| handler::handle(svc_app.clone(), req));
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .max_buf_size(64 << 10)
            .serve_connection(io, svc);
        tokio::pin!(conn);
        tokio::select! {
            r = conn.as_mut() => return r.map_err(|e| e.to_string()),
            _ = stop.wait_for(|s| *s) => conn.as_mut().graceful_shutdown(),
        }
        conn.await.map_err(|e| e.to_string())
    }
}

/// The requests in flight on one HTTP/2 connection, and since when it has had none.
struct Activity(std::sync::Mutex<(usize, Instant)>);

impl Activity {
    fn new() -> Self {
        Activity(std::sync::Mutex::new((0, Instant::now())))
    }

    /// When the last request ended, if none is in flight.
    fn idle_since(&self) -> Option<Instant> {
        let g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        (g.0 == 0).then_some(g.1)
    }
}

/// One request in flight (until dropped).
struct Busy(Arc<Activity>);

impl Busy {
    fn new(a: Arc<Activity>) -> Self {
        a.0.lock().unwrap_or_else(|p| p.into_inner()).0 += 1;
        Busy(a)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut g = self.0.0.lock().unwrap_or_else(|p| p.into_inner());
        g.0 -= 1;
        g.1 = Instant::now();
    }
}
