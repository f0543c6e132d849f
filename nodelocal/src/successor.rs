//! Is another process serving our addresses? During an upgrade the new process binds the
//! same addresses with SO_REUSEPORT before the old one stops; the old one must then leave
//! the interface and rules in place, since its successor needs them.
//!
//! After its own listeners are closed, the stopping process tries to bind the DNS port on
//! a local IP without SO_REUSEPORT: the kernel refuses (EADDRINUSE) while any other
//! socket holds that address, whichever process or container owns it. This needs no
//! shared file or lock between the two pods, only the host's network namespace, which
//! both share (hostNetwork).

use std::net::{IpAddr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

/// Whether some other socket is bound to `ip:port` over UDP.
pub fn address_in_use(ip: IpAddr, port: u16) -> bool {
    let address = SocketAddr::new(ip, port);
    let Ok(socket) = Socket::new(
        Domain::for_address(address),
        Type::DGRAM,
        Some(Protocol::UDP),
    ) else {
        return false;
    };
    matches!(
        socket.bind(&address.into()),
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sees_a_socket_bound_with_reuseport() {
        let holder = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        holder.set_reuse_port(true).unwrap();
        holder
            .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        let port = holder.local_addr().unwrap().as_socket().unwrap().port();
        let ip = IpAddr::from([127, 0, 0, 1]);
        assert!(address_in_use(ip, port));
        drop(holder);
        assert!(!address_in_use(ip, port));
    }
}
