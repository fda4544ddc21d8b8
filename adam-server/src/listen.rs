//! The connection loop: HTTP/1.1 and HTTP/2 (cleartext) over hyper, with the limits a server
//! facing the internet needs and poem's own loop lacks: a cap on open connections, a deadline for
//! a request's headers, and an idle timeout. Each request goes to the poem application.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint, Response};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// The body type hyper sends: what a poem response converts into.
type ResponseBody = http_body_util::combinators::BoxBody<hyper::body::Bytes, std::io::Error>;

/// How many connections, and for how long each may stay without a complete request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections at most (`MAX_CONNECTIONS`); further clients wait to be accepted.
    pub max_connections: usize,
    /// A request's headers must be complete within this (`HEADER_READ_TIMEOUT_SECONDS`),
    /// counted from the connection's start or the end of its previous request.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight is closed after this (`IDLE_TIMEOUT_SECONDS`).
    pub idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves; then stops accepting, asks every
/// connection to finish its requests, and waits up to `grace` for them.
pub(crate) async fn serve<E>(
    listener: TcpListener,
    app: E,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()> + Send,
    grace: Duration,
) -> std::io::Result<()>
where
    E: Endpoint<Output = Response> + 'static,
{
    let app = Arc::new(app);
    let local = listener.local_addr()?;
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    tracing::info!(addr = %local, "listening");
    loop {
        while connections.try_join_next().is_some() {}
        // Beyond the cap, clients wait in the kernel's queue until a connection closes.
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors, say: wait instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(connection(
            stream,
            local,
            peer,
            app.clone(),
            limits,
            stopping.clone(),
            permit,
        ));
    }
    let _ = stop.send(true);
    drop(listener);
    let finished = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, finished).await.is_err() {
        tracing::warn!("connections still open after the shutdown grace: closing them");
        connections.shutdown().await;
    }
    Ok(())
}

/// One connection, until the client closes it, it stays idle or silent too long, or the server
/// stops. Holds its slot of the connection cap until then.
async fn connection<E>(
    stream: TcpStream,
    local: SocketAddr,
    peer: SocketAddr,
    app: Arc<E>,
    limits: ConnectionLimits,
    mut stopping: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) where
    E: Endpoint<Output = Response> + 'static,
{
    let activity = Arc::new(Activity::new());
    let service = hyper::service::service_fn({
        let activity = activity.clone();
        move |req: hyper::Request<Incoming>| {
            let app = app.clone();
            let busy = activity.begin();
            async move {
                let req = poem::Request::from((
                    req,
                    LocalAddr(Addr::SocketAddr(local)),
                    RemoteAddr(Addr::SocketAddr(peer)),
                    Scheme::HTTP,
                ));
                let resp = app.get_response(req).await;
                drop(busy);
                Ok::<_, Infallible>(hyper::Response::<ResponseBody>::from(resp))
            }
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let stop = async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    };
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        }
        () = activity.expired(limits) => {
            // Nothing is in flight: dropping the connection closes it.
            tracing::debug!(%peer, "closing a silent or idle connection");
        }
        () = stop => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// What a connection's watchdog knows: when it opened, how many requests are in flight, and
/// when the last one ended (none yet: still waiting for its first request's headers).
#[derive(Debug)]
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    last_end: Mutex<Option<Instant>>,
}

/// A request in flight; its end is recorded when dropped (also when the client goes away).
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        if let Ok(mut at) = self.0.last_end.lock() {
            *at = Some(Instant::now());
        }
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_end: Mutex::new(None),
        }
    }

    fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }

    /// When the connection expires unless a request is in flight: the header deadline after it
    /// opened, or the idle timeout after its last request ended.
    fn deadline(&self, limits: ConnectionLimits) -> Instant {
        match self.last_end.lock().map(|at| *at).unwrap_or_default() {
            Some(at) => at + limits.idle_timeout,
            None => self.opened + limits.header_read_timeout,
        }
    }

    /// Resolves when the connection has had no complete request headers within the header
    /// deadline of its start, or no request in flight for the idle timeout.
    async fn expired(&self, limits: ConnectionLimits) {
        loop {
            tokio::time::sleep_until(self.deadline(limits)).await;
            if self.in_flight.load(Ordering::Acquire) > 0 {
                // A request is being served; look again an idle period later.
                tokio::time::sleep(limits.idle_timeout).await;
                continue;
            }
            if Instant::now() >= self.deadline(limits) {
                return;
            }
        }
    }
}
