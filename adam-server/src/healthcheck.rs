//! `adam-server healthcheck`: asks the server on this machine whether it is alive (`GET
//! /health`), for a container's `HEALTHCHECK`, where no curl is installed. Reads only `HOST` and
//! `PORT`, so it works whatever else the configuration holds.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// How long the whole check may take.
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// The address to ask: `HOST` (the loopback address when it is unspecified, as `0.0.0.0` is in a
/// container) and `PORT`.
pub fn address(host: Option<&str>, port: Option<&str>) -> Result<SocketAddr, String> {
    let host: IpAddr = match host {
        Some(h) => h
            .trim()
            .parse()
            .map_err(|_| format!("HOST: not an IP address: {h}"))?,
        None => Ipv4Addr::LOCALHOST.into(),
    };
    let host = if host.is_unspecified() {
        match host {
            IpAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        }
    } else {
        host
    };
    let port: u16 = match port {
        Some(p) => p
            .trim()
            .parse()
            .map_err(|_| format!("PORT: not a port: {p}"))?,
        None => 8000,
    };
    Ok(SocketAddr::new(host, port))
}

/// `Ok` when `GET /health` at `addr` answers 200 within [`TIMEOUT`].
pub fn check(addr: SocketAddr) -> Result<(), String> {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let io = |e: std::io::Error| format!("{addr}: {e}");
    stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
    write!(
        stream,
        "GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(io)?;
    let mut head = [0_u8; 64];
    let mut read = 0;
    while read < 12 {
        match stream.read(&mut head[read..]).map_err(io)? {
            0 => break,
            n => read += n,
        }
    }
    let status_line = String::from_utf8_lossy(&head[..read]);
    match status_line.split_whitespace().nth(1) {
        Some("200") => Ok(()),
        Some(status) => Err(format!("{addr}/health answered {status}")),
        None => Err(format!("{addr}/health gave no HTTP answer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_defaults_to_loopback_port_8000_and_replaces_unspecified_hosts() {
        assert_eq!(
            address(None, None).unwrap(),
            "127.0.0.1:8000".parse().unwrap()
        );
        assert_eq!(
            address(Some("0.0.0.0"), Some("9000")).unwrap(),
            "127.0.0.1:9000".parse().unwrap()
        );
        assert_eq!(
            address(Some("::"), Some("1")).unwrap(),
            "[::1]:1".parse().unwrap()
        );
        assert_eq!(
            address(Some("10.1.2.3"), None).unwrap(),
            "10.1.2.3:8000".parse().unwrap()
        );
        assert!(address(Some("localhost"), None).is_err());
        assert!(address(None, Some("http")).is_err());
    }
}
