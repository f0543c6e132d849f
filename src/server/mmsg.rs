//! Batched UDP receive and send with `recvmmsg`/`sendmmsg`.
//!
//! One system call moves up to [`BATCH`] datagrams. On the machines we measured, the
//! kernel's per-call cost dominates a cluster-zone answer, and batching is what brings a
//! Rust server to the per-core throughput of Knot (see the project's benchmark notes).
//! This is the only module with `unsafe`: it fills the C structures the two calls take.
#![allow(unsafe_code)]

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;
use std::ptr::null_mut;

use socket2::SockAddr;

/// Datagrams per system call.
pub const BATCH: usize = 32;
/// Receive buffer per datagram. Queries are small; a larger datagram is dropped
/// (it arrives with `MSG_TRUNC`).
pub const SLOT: usize = 4096;

/// Buffers for one `recvmmsg` call. Not `Send`: it holds raw pointers into itself, and
/// lives on the worker thread that created it.
pub struct RecvBatch {
    bufs: Box<[[u8; SLOT]]>,
    addrs: Box<[libc::sockaddr_storage]>,
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
            hdr.msg_hdr.msg_control = null_mut();
            hdr.msg_hdr.msg_controllen = 0;
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

    /// Datagram `i` of the last [`recv`](Self::recv): its bytes and sender, or `None`
    /// when it was cut short (larger than [`SLOT`]) or came from an unknown family.
    pub fn get(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        let hdr = self.hdrs.get(i)?;
        if hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
            return None;
        }
        let len = (hdr.msg_len as usize).min(SLOT);
        let addr = socket_addr(&self.addrs[i], hdr.msg_hdr.msg_namelen)?;
        Some((&self.bufs[i][..len], addr))
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
    addrs: Vec<Option<SockAddr>>,
    len: usize,
}

impl SendBatch {
    /// Empty, with reusable buffers for [`BATCH`] answers.
    pub fn new() -> Self {
        Self {
            bufs: (0..BATCH).map(|_| Vec::with_capacity(512)).collect(),
            addrs: (0..BATCH).map(|_| None).collect(),
            len: 0,
        }
    }

    /// The buffer the next answer is encoded into. It becomes part of the batch only
    /// when [`commit`](Self::commit) is called.
    pub fn next_buf(&mut self) -> &mut Vec<u8> {
        &mut self.bufs[self.len]
    }

    /// Adds the answer in [`next_buf`](Self::next_buf) for `to`.
    pub fn commit(&mut self, to: SocketAddr) {
        self.addrs[self.len] = Some(SockAddr::from(to));
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
                let Some(addr) = &self.addrs[sent + j] else {
                    continue;
                };
                hdrs[j].msg_hdr.msg_name = addr.as_ptr() as *mut libc::c_void;
                hdrs[j].msg_hdr.msg_namelen = addr.len();
                hdrs[j].msg_hdr.msg_iov = &raw mut iovs[j];
                hdrs[j].msg_hdr.msg_iovlen = 1;
            }
            // SAFETY: the headers point at buffers and addresses owned by `self` and at
            // `iovs`, all alive for the call; lengths are the buffers' own.
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
        for addr in &mut self.addrs[..self.len] {
            *addr = None;
        }
        self.len = 0;
    }
}
