//! Binding the listeners' TCP sockets, and saying why binding failed in words that fix it.

use std::net::SocketAddr;

use socket2::{Domain, Socket, Type};
use tokio::net::TcpListener;

use crate::config::Protocol;

/// Why binding failed, and for port 514 exactly how to allow it.
pub fn bind_error(
    protocol: &Protocol,
    address: SocketAddr,
    error: std::io::Error,
) -> anyhow::Error {
    let mut message = format!("cannot listen on {protocol}://{address}: {error}");
    if error.kind() == std::io::ErrorKind::PermissionDenied && address.port() < 1024 {
        message.push_str(&format!(
            "\nports below 1024 need CAP_NET_BIND_SERVICE. Any one of these fixes it:\n\
             - run as root;\n\
             - sudo setcap cap_net_bind_service=+ep {};\n\
             - under systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE in the unit (cefrelay install does this);\n\
             - or listen on a high port, e.g. --listen {protocol}://{}:5514",
            std::env::current_exe().map_or_else(|_| "/usr/local/bin/cefrelay".into(), |p| p.display().to_string()),
            match address { SocketAddr::V4(a) => a.ip().to_string(), SocketAddr::V6(a) => format!("[{}]", a.ip()) },
        ));
    } else if error.kind() == std::io::ErrorKind::AddrInUse {
        message.push_str("\nanother process holds the port: `ss -lntup` shows which (often rsyslog or syslog-ng)");
    }
    anyhow::anyhow!(message)
}

pub fn bind_tcp(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, None)?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}
