//! The connection loop: HTTP/1.1 and HTTP/2 (cleartext) over hyper, with the limits a server
//! facing the internet needs and poem's own loop lacks: a cap on open connections, in all and
//! per peer address, a deadline for a request's headers, and an idle timeout. Each request goes
//! to the poem application (which holds its body to a deadline of its own).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
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

use crate::client::TrustedProxies;

/// How many connections, and for how long each may stay without a complete request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections at most (`MAX_CONNECTIONS`); further clients wait to be accepted.
    pub max_connections: usize,
    /// Open connections at most from one peer address (`MAX_CONNECTIONS_PER_ADDRESS`); more are
    /// closed as soon as they are accepted. Trusted proxies are exempt.
    pub max_per_address: usize,
    /// A request's body must be complete within this of its headers
    /// (`REQUEST_TIMEOUT_SECONDS`), or it is answered 408 and its connection closed (applied
    /// where the application reads every body: `limit_body` in lib.rs).
    pub request_timeout: Duration,
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
            max_per_address: 256,
            request_timeout: Duration::from_secs(30),
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
    proxies: TrustedProxies,
    shutdown: impl std::future::Future<Output = ()> + Send,
    grace: Duration,
) -> std::io::Result<()>
where
    E: Endpoint<Output = Response> + 'static,
{
    let app = Arc::new(app);
    let local = listener.local_addr()?;
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_address = PerAddress::new(limits.max_per_address, proxies);
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
        // One address may not hold every slot: beyond its share, its connections are closed
        // at once (and the slot freed), so clients elsewhere are still served.
        let Some(share) = per_address.admit(peer.ip()) else {
            tracing::debug!(%peer, "refusing a connection: too many from this address");
            continue;
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(connection(
            stream,
            local,
            peer,
            app.clone(),
            limits,
            stopping.clone(),
            (permit, share),
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
    _slots: (OwnedSemaphorePermit, Share),
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

/// Open connections per peer address, shared by the accept loop and the connections.
#[derive(Debug, Clone)]
struct PerAddress {
    max: usize,
    exempt: Arc<TrustedProxies>,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection's place in its address's count, given back when the connection ends.
struct Share {
    of: PerAddress,
    /// The address counted; `None` for a trusted proxy, which is not.
    counted: Option<IpAddr>,
}

impl PerAddress {
    fn new(max: usize, exempt: TrustedProxies) -> Self {
        Self {
            max: max.max(1),
            exempt: Arc::new(exempt),
            open: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// A share for one more connection from `ip` (a trusted proxy's is not counted), or
    /// `None` when the address already holds its maximum.
    fn admit(&self, ip: IpAddr) -> Option<Share> {
        let ip = ip.to_canonical();
        if self.exempt.trusts(ip) {
            return Some(Share {
                of: self.clone(),
                counted: None,
            });
        }
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = open.entry(ip).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Share {
            of: self.clone(),
            counted: Some(ip),
        })
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let Some(ip) = self.counted else { return };
        let mut open = self
            .of
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = open.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_share_and_no_more_until_one_closes() {
        let limits = PerAddress::new(2, TrustedProxies::parse("10.0.0.0/8").unwrap());
        let one: IpAddr = "192.0.2.1".parse().unwrap();
        let a = limits.admit(one).unwrap();
        let b = limits.admit(one).unwrap();
        assert!(limits.admit(one).is_none(), "a third from one address");
        assert!(
            limits.admit("192.0.2.2".parse().unwrap()).is_some(),
            "another address"
        );
        // The same address written as IPv4-mapped IPv6 is the same peer.
        assert!(limits.admit("::ffff:192.0.2.1".parse().unwrap()).is_none());
        drop(a);
        assert!(limits.admit(one).is_some());
        drop(b);
        // Trusted proxies are not counted.
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let held: Vec<_> = (0..10).map(|_| limits.admit(proxy).unwrap()).collect();
        assert!(held.iter().all(|share| share.counted.is_none()));
    }
}
