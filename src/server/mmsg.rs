//! Batched UDP receive and send with `recvmmsg`/`sendmmsg`.
//!
//! One system call moves up to [`BATCH`] datagrams. On the machines we measured, the
//! kernel's per-call cost dominates a cluster-zone answer, and batching is what brings a
//! Rust server to the per-core throughput of Knot (see the project's benchmark notes).
//!
//! On a socket bound to a wildcard address, the kernel reports where each datagram was
//! sent (`IP_PKTINFO`, `IPV6_PKTINFO` control messages) and the answer is sent with that
//! address as its source, as CoreDNS does: a host may have several addresses (the
//! Service IP on an interface, host-network and node-local setups), and a client drops
//! an answer that comes from another address than the one it asked.
//!
//! This is the only module with `unsafe`: it fills the C structures the calls take.
#![allow(unsafe_code)]

use std::io;
use std::mem::{align_of, size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};
use std::ptr::null_mut;

use socket2::{SockAddr, Socket};

/// Datagrams per system call.
pub const BATCH: usize = 32;
/// Receive buffer per datagram. Queries are small; a larger datagram is dropped
/// (it arrives with `MSG_TRUNC`).
pub const SLOT: usize = 4096;

/// Room for the control messages of one datagram: an `IPV6_PKTINFO` and an
/// `IP_PKTINFO` (a dual-stack socket reports both for an IPv4 datagram).
// SAFETY: CMSG_SPACE only computes a size.
const CONTROL_LEN: usize = unsafe {
    libc::CMSG_SPACE(size_of::<libc::in6_pktinfo>() as libc::c_uint)
        + libc::CMSG_SPACE(size_of::<libc::in_pktinfo>() as libc::c_uint)
} as usize;

/// A control-message buffer, aligned for the `cmsghdr`s in it.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct Control([u8; CONTROL_LEN]);

const _: () = assert!(align_of::<Control>() >= align_of::<libc::cmsghdr>());

/// Where a datagram arrived: the local address it was sent to and the interface it came
/// in on, as reported by `IP_PKTINFO` / `IPV6_PKTINFO`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketInfo {
    /// The address to answer from: for IPv4 the kernel's `ipi_spec_dst` (the address
    /// queried, or the interface's for a broadcast); an IPv4 datagram on a dual-stack
    /// socket is reported as IPv4, not v4-mapped.
    pub ip: IpAddr,
    /// The interface the datagram came in on (0 when unknown).
    pub ifindex: u32,
}

/// Asks the kernel to report each datagram's destination address on `socket`, which is
/// bound to a wildcard address: `IP_PKTINFO` for IPv4, `IPV6_RECVPKTINFO` for IPv6,
/// and on a dual-stack IPv6 socket also `IP_PKTINFO`, for the `ipi_spec_dst` of IPv4
/// datagrams (best effort: `IPV6_PKTINFO` reports those too, v4-mapped).
pub fn enable_packet_info(socket: &Socket, ipv6: bool) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    if ipv6 {
        set_flag(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO)?;
        if let Err(err) = set_flag(fd, libc::IPPROTO_IP, libc::IP_PKTINFO) {
            tracing::debug!(%err, "IP_PKTINFO on a dual-stack socket");
        }
        Ok(())
    } else {
        set_flag(fd, libc::IPPROTO_IP, libc::IP_PKTINFO)
    }
}

/// Sets an integer socket option to 1.
fn set_flag(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: the option value is a live c_int and its true size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&raw const on).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One received datagram.
pub struct Datagram<'a> {
    /// Its bytes.
    pub packet: &'a [u8],
    /// The client: where it came from, and where the answer goes.
    pub client: SocketAddr,
    /// The local address it was sent to, when the socket reports it (wildcard-bound
    /// sockets): where the answer is sent from.
    pub local: Option<PacketInfo>,
}

/// Buffers for one `recvmmsg` call. Not `Send`: it holds raw pointers into itself, and
/// lives on the worker thread that created it.
pub struct RecvBatch {
    bufs: Box<[[u8; SLOT]]>,
    addrs: Box<[libc::sockaddr_storage]>,
    controls: Box<[Control]>,
    iovs: Box<[libc::iovec]>,
    hdrs: Box<[libc::mmsghdr]>,
}

impl RecvBatch {
    /// Allocates the buffers.
    pub fn new() -> Self {
        // SAFETY: all-zero is a valid value for these plain C structs.
        let zero_addr: libc::sockaddr_storage = unsafe { zeroed() };
        let zero_iov = libc::iovec {
            iov_base: null_mut(),
            iov_len: 0,
        };
        // SAFETY: as above.
        let zero_hdr: libc::mmsghdr = unsafe { zeroed() };
        Self {
            bufs: vec![[0u8; SLOT]; BATCH].into_boxed_slice(),
            addrs: vec![zero_addr; BATCH].into_boxed_slice(),
            controls: vec![Control([0; CONTROL_LEN]); BATCH].into_boxed_slice(),
            iovs: vec![zero_iov; BATCH].into_boxed_slice(),
            hdrs: vec![zero_hdr; BATCH].into_boxed_slice(),
        }
    }

    /// Waits for at least one datagram (up to the socket's read timeout), then takes
    /// whatever else is already queued, up to [`BATCH`]. Returns how many arrived.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        for i in 0..BATCH {
            self.iovs[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: SLOT,
            };
            let hdr = &mut self.hdrs[i];
            hdr.msg_hdr.msg_name = (&raw mut self.addrs[i]).cast();
            hdr.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdr.msg_hdr.msg_iov = &raw mut self.iovs[i];
            hdr.msg_hdr.msg_iovlen = 1;
            hdr.msg_hdr.msg_control = self.controls[i].0.as_mut_ptr().cast();
            hdr.msg_hdr.msg_controllen = CONTROL_LEN as _;
            hdr.msg_hdr.msg_flags = 0;
            hdr.msg_len = 0;
        }
        // SAFETY: every header points at buffers owned by `self` that outlive the call,
        // with their true lengths; the kernel writes at most that much.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Datagram `i` of the last [`recv`](Self::recv), or `None` when it was cut short
    /// (larger than [`SLOT`]) or came from an unknown family.
    pub fn get(&self, i: usize) -> Option<Datagram<'_>> {
        let hdr = self.hdrs.get(i)?;
        if hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
            return None;
        }
        let len = (hdr.msg_len as usize).min(SLOT);
        let client = socket_addr(&self.addrs[i], hdr.msg_hdr.msg_namelen)?;
        Some(Datagram {
            packet: &self.bufs[i][..len],
            client,
            local: packet_info(&hdr.msg_hdr),
        })
    }
}

/// The destination the kernel reported in a received message's control messages.
/// `IP_PKTINFO` wins over `IPV6_PKTINFO` (a dual-stack socket may report both for an
/// IPv4 datagram), for its `ipi_spec_dst`.
fn packet_info(hdr: &libc::msghdr) -> Option<PacketInfo> {
    let mut v4 = None;
    let mut v6 = None;
    let end = (hdr.msg_control as usize).saturating_add(hdr.msg_controllen as _);
    // SAFETY: `msg_control` is null or points at a control buffer of the batch, aligned
    // for `cmsghdr`, and `msg_controllen` is at most its size (after `recvmmsg`, how much
    // of it the kernel filled). CMSG_FIRSTHDR and CMSG_NXTHDR only return headers that
    // lie within that length; a payload is read (unaligned) only when the header's
    // length covers the whole structure and stays within that length too.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(hdr);
        while let Some(c) = cmsg.as_ref() {
            let len: usize = c.cmsg_len as _;
            if len > end - cmsg as usize {
                break;
            }
            match (c.cmsg_level, c.cmsg_type) {
                (libc::IPPROTO_IP, libc::IP_PKTINFO)
                    if len >= libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as _) as usize =>
                {
                    v4 = Some(
                        libc::CMSG_DATA(cmsg)
                            .cast::<libc::in_pktinfo>()
                            .read_unaligned(),
                    );
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO)
                    if len >= libc::CMSG_LEN(size_of::<libc::in6_pktinfo>() as _) as usize =>
                {
                    v6 = Some(
                        libc::CMSG_DATA(cmsg)
                            .cast::<libc::in6_pktinfo>()
                            .read_unaligned(),
                    );
                }
                _ => {}
            }
            cmsg = libc::CMSG_NXTHDR(hdr, cmsg);
        }
    }
    if let Some(info) = v4 {
        return Some(PacketInfo {
            ip: Ipv4Addr::from(u32::from_be(info.ipi_spec_dst.s_addr)).into(),
            ifindex: u32::try_from(info.ipi_ifindex).unwrap_or(0),
        });
    }
    let info = v6?;
    let ip = Ipv6Addr::from(info.ipi6_addr.s6_addr);
    Some(PacketInfo {
        ip: ip.to_ipv4_mapped().map_or(IpAddr::V6(ip), IpAddr::V4),
        ifindex: info.ipi6_ifindex as _,
    })
}

/// Writes into `control` the control message that makes `src` the source address of a
/// datagram; returns its length, or 0 when the kernel should choose (a multicast or
/// unspecified address cannot be a source).
///
/// IPv4: `IP_PKTINFO` with `ipi_spec_dst` and interface 0, so the route decides the way
/// out (also on a dual-stack socket, for a v4-mapped client). IPv6: `IPV6_PKTINFO`, with
/// the incoming interface only for a link-local address, which means nothing without
/// it; for other addresses the route decides, as for IPv4.
fn source_control(control: &mut Control, src: &PacketInfo) -> usize {
    let (level, kind, data_len) = match src.ip {
        IpAddr::V4(ip) if ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() => {
            return 0;
        }
        IpAddr::V6(ip) if ip.is_unspecified() || ip.is_multicast() => return 0,
        IpAddr::V4(_) => (
            libc::IPPROTO_IP,
            libc::IP_PKTINFO,
            size_of::<libc::in_pktinfo>(),
        ),
        IpAddr::V6(_) => (
            libc::IPPROTO_IPV6,
            libc::IPV6_PKTINFO,
            size_of::<libc::in6_pktinfo>(),
        ),
    };
    control.0.fill(0);
    // SAFETY: all-zero is a valid msghdr; it only carries the control buffer's address
    // and length for the CMSG macros below.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = CONTROL_LEN as _;
    // SAFETY: the buffer is aligned for `cmsghdr` and larger than CMSG_SPACE of either
    // payload, so CMSG_FIRSTHDR returns a header at its start (non-null: the buffer holds
    // at least one header) and the payload written at CMSG_DATA fits; it is written
    // unaligned.
    unsafe {
        let space = libc::CMSG_SPACE(data_len as libc::c_uint) as usize;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() {
            return 0;
        }
        (*cmsg).cmsg_level = level;
        (*cmsg).cmsg_type = kind;
        (*cmsg).cmsg_len = libc::CMSG_LEN(data_len as libc::c_uint) as _;
        let data = libc::CMSG_DATA(cmsg);
        match src.ip {
            IpAddr::V4(ip) => data
                .cast::<libc::in_pktinfo>()
                .write_unaligned(libc::in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from(ip).to_be(),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                }),
            IpAddr::V6(ip) => data
                .cast::<libc::in6_pktinfo>()
                .write_unaligned(libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: ip.octets(),
                    },
                    ipi6_ifindex: if ip.is_unicast_link_local() {
                        src.ifindex as _
                    } else {
                        0
                    },
                }),
        }
        space
    }
}

/// Reads an IPv4 or IPv6 address the kernel wrote into `storage`.
fn socket_addr(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match i32::from(storage.ss_family) {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, and
            // sockaddr_storage is large and aligned enough for any address.
            let sin =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Answers collected during one batch, sent with one `sendmmsg` call.
pub struct SendBatch {
    bufs: Vec<Vec<u8>>,
    /// Each committed answer's destination (the slots past `len` hold stale values).
    addrs: Vec<SockAddr>,
    srcs: Vec<Option<PacketInfo>>,
    controls: Box<[Control]>,
    len: usize,
}

impl SendBatch {
    /// Empty, with reusable buffers for [`BATCH`] answers.
    pub fn new() -> Self {
        Self {
            bufs: (0..BATCH).map(|_| Vec::with_capacity(512)).collect(),
            addrs: (0..BATCH)
                .map(|_| SockAddr::from(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))))
                .collect(),
            srcs: vec![None; BATCH],
            controls: vec![Control([0; CONTROL_LEN]); BATCH].into_boxed_slice(),
            len: 0,
        }
    }

    /// The buffer the next answer is encoded into. It becomes part of the batch only
    /// when [`commit`](Self::commit) is called.
    pub fn next_buf(&mut self) -> &mut Vec<u8> {
        &mut self.bufs[self.len]
    }

    /// Adds the answer in [`next_buf`](Self::next_buf) for `client`, sent from `local`
    /// (the query's destination) when known, else from the address the kernel picks.
    pub fn commit(&mut self, client: SocketAddr, local: Option<PacketInfo>) {
        self.addrs[self.len] = SockAddr::from(client);
        self.srcs[self.len] = local;
        self.len += 1;
    }

    /// Whether the batch is full.
    pub fn is_full(&self) -> bool {
        self.len == BATCH
    }

    /// Sends every committed answer and empties the batch. A datagram the kernel
    /// refuses (for example an unreachable destination) is skipped, not retried.
    pub fn send(&mut self, fd: RawFd) {
        let mut sent = 0;
        while sent < self.len {
            let mut iovs: [libc::iovec; BATCH] = [libc::iovec {
                iov_base: null_mut(),
                iov_len: 0,
            }; BATCH];
            // SAFETY: all-zero is a valid mmsghdr.
            let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
            let count = self.len - sent;
            for j in 0..count {
                let buf = &mut self.bufs[sent + j];
                iovs[j] = libc::iovec {
                    iov_base: buf.as_mut_ptr().cast(),
                    iov_len: buf.len(),
                };
                let addr = &self.addrs[sent + j];
                hdrs[j].msg_hdr.msg_name = addr.as_ptr() as *mut libc::c_void;
                hdrs[j].msg_hdr.msg_namelen = addr.len();
                hdrs[j].msg_hdr.msg_iov = &raw mut iovs[j];
                hdrs[j].msg_hdr.msg_iovlen = 1;
                if let Some(src) = &self.srcs[sent + j] {
                    let control = &mut self.controls[sent + j];
                    let len = source_control(control, src);
                    if len > 0 {
                        hdrs[j].msg_hdr.msg_control = control.0.as_mut_ptr().cast();
                        hdrs[j].msg_hdr.msg_controllen = len as _;
                    }
                }
            }
            // SAFETY: the headers point at buffers, addresses and control messages owned
            // by `self` and at `iovs`, all alive for the call; lengths are their own.
            let n = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), count as libc::c_uint, 0) };
            if n <= 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::debug!(%err, "sendmmsg failed; skipping one answer");
                sent += 1;
            } else {
                sent += n as usize;
            }
        }
        for src in &mut self.srcs[..self.len] {
            *src = None;
        }
        self.len = 0;
    }
}

/// Sends one datagram to `client` from `local` (the query's destination) when known,
/// with `sendmsg`: the same source address as [`SendBatch`], for an answer completed
/// outside a batch.
pub fn send_one(
    socket: &Socket,
    buf: &[u8],
    client: SocketAddr,
    local: Option<&PacketInfo>,
) -> io::Result<usize> {
    let addr = SockAddr::from(client);
    let mut iov = libc::iovec {
        iov_base: buf.as_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    let mut control = Control([0; CONTROL_LEN]);
    // SAFETY: all-zero is a valid msghdr.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = addr.as_ptr() as *mut libc::c_void;
    msg.msg_namelen = addr.len();
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    if let Some(local) = local {
        let len = source_control(&mut control, local);
        if len > 0 {
            msg.msg_control = control.0.as_mut_ptr().cast();
            msg.msg_controllen = len as _;
        }
    }
    loop {
        // SAFETY: the header points at `addr`, `iov` (over `buf`, which the kernel only
        // reads) and `control`, all alive for the call, with their true lengths.
        let n = unsafe { libc::sendmsg(socket.as_raw_fd(), &msg, 0) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// What [`packet_info`] reads back from the control message [`source_control`]
    /// writes for `src`.
    fn round_trip(src: PacketInfo) -> Option<PacketInfo> {
        let mut control = Control([0; CONTROL_LEN]);
        let len = source_control(&mut control, &src);
        // SAFETY: all-zero is a valid msghdr.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = len as _;
        packet_info(&msg)
    }

    #[test]
    fn ipv4_source_is_spec_dst_without_interface() {
        let src = PacketInfo {
            ip: Ipv4Addr::new(10, 96, 0, 10).into(),
            ifindex: 7,
        };
        assert_eq!(round_trip(src), Some(PacketInfo { ifindex: 0, ..src }));
    }

    #[test]
    fn ipv6_source_keeps_the_interface_only_when_link_local() {
        let global = PacketInfo {
            ip: "fd00::10".parse::<Ipv6Addr>().unwrap().into(),
            ifindex: 3,
        };
        assert_eq!(
            round_trip(global),
            Some(PacketInfo {
                ifindex: 0,
                ..global
            })
        );
        let link_local = PacketInfo {
            ip: "fe80::1".parse::<Ipv6Addr>().unwrap().into(),
            ifindex: 3,
        };
        assert_eq!(round_trip(link_local), Some(link_local));
    }

    #[test]
    fn multicast_and_unspecified_are_left_to_the_kernel() {
        let mut control = Control([0; CONTROL_LEN]);
        for ip in [
            IpAddr::from(Ipv4Addr::UNSPECIFIED),
            IpAddr::from(Ipv4Addr::new(224, 0, 0, 251)),
            IpAddr::from(Ipv4Addr::BROADCAST),
            IpAddr::from(Ipv6Addr::UNSPECIFIED),
            "ff02::fb".parse().unwrap(),
        ] {
            let src = PacketInfo { ip, ifindex: 1 };
            assert_eq!(source_control(&mut control, &src), 0, "{ip}");
        }
    }

    #[test]
    fn no_control_message_means_no_destination() {
        let mut control = Control([0; CONTROL_LEN]);
        // SAFETY: all-zero is a valid msghdr.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = 0;
        assert_eq!(packet_info(&msg), None);
    }

    /// A wildcard IPv4 socket sees the address a datagram was sent to, and answers
    /// from it in a batch.
    #[test]
    fn batch_answers_from_the_destination() {
        let server = Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        enable_packet_info(&server, false).unwrap();
        let wildcard: SocketAddr = (Ipv4Addr::UNSPECIFIED, 0).into();
        server.bind(&wildcard.into()).unwrap();
        let port = server.local_addr().unwrap().as_socket().unwrap().port();
        let client = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let asked = SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2), port));
        client.send_to(b"query", asked).unwrap();

        let mut incoming = RecvBatch::new();
        assert_eq!(incoming.recv(server.as_raw_fd()).unwrap(), 1);
        let datagram = incoming.get(0).unwrap();
        assert_eq!(datagram.packet, b"query");
        assert_eq!(datagram.client, client.local_addr().unwrap());
        let local = datagram.local.unwrap();
        assert_eq!(local.ip, asked.ip());
        assert_ne!(local.ifindex, 0);

        let mut outgoing = SendBatch::new();
        outgoing.next_buf().extend_from_slice(b"answer");
        outgoing.commit(datagram.client, datagram.local);
        outgoing.send(server.as_raw_fd());
        let mut buf = [0u8; 16];
        let (len, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..len], from), (&b"answer"[..], asked));

        send_one(
            &server,
            b"later",
            client.local_addr().unwrap(),
            Some(&local),
        )
        .unwrap();
        let (len, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..len], from), (&b"later"[..], asked));
    }
}
