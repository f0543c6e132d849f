//! The counting client: a pod that asks the VIP at a steady rate and counts every query
//! not answered within [`DEADLINE`] as lost, with the time it was sent.
//!
//! Three transports run at once:
//! - `udp-new`: a new socket per query (glibc's stub resolver): each query gets a new
//!   source port, so a new conntrack entry, except when the kernel reuses a port whose
//!   entry has not expired yet;
//! - `udp-reused`: one socket for every query (a long-lived resolver such as a node
//!   cache or a language runtime): one conntrack entry for the whole run;
//! - `tcp`: a connection per query.
//!
//! An answer from another address than the VIP (an old replica's answer that left after
//! its conntrack entry was deleted, so it is no longer un-NATed) is what a resolver
//! drops; it is counted as `stray`, and a query lost with a stray answer is an answer
//! in flight at the flush, counted apart.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// A query not answered within this is lost (a stub resolver's timeout).
pub const DEADLINE: Duration = Duration::from_secs(2);
/// The name asked: a cluster name every replica answers.
const NAME: &str = "kubernetes.default.svc.cluster.local";

/// How fast each transport asks, per second.
#[derive(Clone, Copy, Debug)]
pub struct Rates {
    pub udp_new: u32,
    pub udp_reused: u32,
    pub tcp: u32,
}

/// The count of one transport.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub sent: u64,
    pub answered: u64,
    /// When each lost query was sent, in seconds since the client started.
    pub lost_at: Vec<f64>,
    /// Lost queries whose answer came back from a replica's own address.
    pub lost_in_flight: u64,
    /// Answers from a replica's own address (not un-NATed).
    pub stray: u64,
}

impl Tally {
    pub fn lost(&self) -> u64 {
        self.lost_at.len() as u64
    }

    /// Lost, not counting answers in flight at a conntrack flush.
    pub fn lost_otherwise(&self) -> u64 {
        self.lost() - self.lost_in_flight
    }

    /// "lost/sent (in flight n) at [t..t: n, ...]".
    pub fn describe(&self) -> String {
        format!(
            "{}/{} lost ({} answers in flight at a flush, {} stray answers){}",
            self.lost(),
            self.sent,
            self.lost_in_flight,
            self.stray,
            timeline(&self.lost_at)
        )
    }
}

/// Loss times grouped in 0.5 s bins: " at 3.0-3.5s: 12, 5.5-6.0s: 3".
fn timeline(times: &[f64]) -> String {
    let mut bins: Vec<(i64, u64)> = Vec::new();
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    for t in sorted {
        let bin = (t * 2.0).floor() as i64;
        match bins.last_mut() {
            Some((b, n)) if *b == bin => *n += 1,
            _ => bins.push((bin, 1)),
        }
    }
    if bins.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = bins
        .iter()
        .map(|(b, n)| format!("{:.1}-{:.1}s: {n}", *b as f64 / 2.0, (*b + 1) as f64 / 2.0))
        .collect();
    format!("; sent at {}", parts.join(", "))
}

/// The tallies of a run.
#[derive(Clone, Debug, Default)]
pub struct Counts {
    pub udp_new: Tally,
    pub udp_reused: Tally,
    pub tcp: Tally,
}

/// A running client; [`Client::finish`] stops it and returns the counts.
pub struct Client {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Counts>,
}

impl Client {
    /// Starts asking from `namespace`; loss times are counted from `started`.
    pub fn start(namespace: &str, rates: Rates, started: Instant) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let namespace = namespace.to_owned();
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                super::lab::enter(&namespace).expect("enter the pod's namespace");
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(run(rates, started, stop))
            })
        };
        Self { stop, thread }
    }

    /// Stops sending, waits for the last answers (or their deadline), returns the counts.
    pub fn finish(self) -> Counts {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("the client does not panic")
    }
}

fn vip() -> SocketAddr {
    SocketAddr::from((super::lab::VIP.parse::<Ipv4Addr>().unwrap(), 53))
}

/// A query for [`NAME`] A with `id`.
fn query(id: u16) -> Vec<u8> {
    let mut packet = Vec::with_capacity(64);
    packet.extend_from_slice(&id.to_be_bytes());
    packet.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in NAME.split('.') {
        packet.push(label.len() as u8);
        packet.extend_from_slice(label.as_bytes());
    }
    packet.extend_from_slice(&[0, 0, 1, 0, 1]);
    packet
}

/// Whether `reply` answers query `id` (QR set, same ID, NOERROR).
fn answers(reply: &[u8], id: u16) -> bool {
    reply.len() >= 12
        && reply[..2] == id.to_be_bytes()
        && reply[2] & 0x80 != 0
        && reply[3] & 0x0f == 0
}

/// What became of one query.
enum Outcome {
    Answered,
    Lost { stray: u64 },
}

async fn run(rates: Rates, started: Instant, stop: Arc<AtomicBool>) -> Counts {
    let counts = Rc::new(std::cell::RefCell::new(Counts::default()));
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let mut tasks = Vec::new();
            if rates.udp_new > 0 {
                tasks.push(tokio::task::spawn_local(paced(
                    rates.udp_new,
                    stop.clone(),
                    {
                        let counts = counts.clone();
                        move |id| {
                            let counts = counts.clone();
                            async move {
                                let sent = started.elapsed().as_secs_f64();
                                let outcome = udp_new(id).await;
                                record(&mut counts.borrow_mut().udp_new, sent, outcome);
                            }
                        }
                    },
                )));
            }
            if rates.tcp > 0 {
                tasks.push(tokio::task::spawn_local(paced(rates.tcp, stop.clone(), {
                    let counts = counts.clone();
                    move |id| {
                        let counts = counts.clone();
                        async move {
                            let sent = started.elapsed().as_secs_f64();
                            let outcome = tcp(id).await;
                            record(&mut counts.borrow_mut().tcp, sent, outcome);
                        }
                    }
                })));
            }
            if rates.udp_reused > 0 {
                let tally = udp_reused(rates.udp_reused, started, stop.clone()).await;
                counts.borrow_mut().udp_reused = tally;
            }
            for task in tasks {
                let _ = task.await;
            }
        })
        .await;
    counts.borrow().clone()
}

fn record(tally: &mut Tally, sent: f64, outcome: Outcome) {
    tally.sent += 1;
    match outcome {
        Outcome::Answered => tally.answered += 1,
        Outcome::Lost { stray } => {
            tally.lost_at.push(sent);
            tally.stray += stray;
            if stray > 0 {
                tally.lost_in_flight += 1;
            }
        }
    }
}

/// Starts `ask(id)` `rate` times a second until `stop`, then waits for all of them.
async fn paced<F, Fut>(rate: u32, stop: Arc<AtomicBool>, ask: F)
where
    F: Fn(u16) -> Fut,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut running = Vec::new();
    let mut id = 0u16;
    while !stop.load(Ordering::Relaxed) {
        ticks.tick().await;
        id = id.wrapping_add(1);
        running.push(tokio::task::spawn_local(ask(id)));
        if running.len() > 4096 {
            running.retain(|task: &tokio::task::JoinHandle<()>| !task.is_finished());
        }
    }
    for task in running {
        let _ = task.await;
    }
}

/// One query on a new, unconnected socket (so that stray answers are seen).
async fn udp_new(id: u16) -> Outcome {
    let Ok(socket) = UdpSocket::bind("0.0.0.0:0").await else {
        return Outcome::Lost { stray: 0 };
    };
    if socket.send_to(&query(id), vip()).await.is_err() {
        return Outcome::Lost { stray: 0 };
    }
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut stray = 0;
    let mut buf = [0u8; 1500];
    loop {
        match tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await {
            Ok(Ok((n, from))) if from == vip() && answers(&buf[..n], id) => {
                return Outcome::Answered;
            }
            Ok(Ok(_)) => stray += 1,
            Ok(Err(_)) => {}
            Err(_) => return Outcome::Lost { stray },
        }
    }
}

/// One query on a new TCP connection.
async fn tcp(id: u16) -> Outcome {
    let exchange = async {
        let mut stream = TcpStream::connect(vip()).await.ok()?;
        let packet = query(id);
        let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&packet);
        stream.write_all(&framed).await.ok()?;
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await.ok()?;
        let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut reply).await.ok()?;
        answers(&reply, id).then_some(())
    };
    match tokio::time::timeout(DEADLINE, exchange).await {
        Ok(Some(())) => Outcome::Answered,
        _ => Outcome::Lost { stray: 0 },
    }
}

/// Queries on one socket for the whole run, matched to answers by ID.
async fn udp_reused(rate: u32, started: Instant, stop: Arc<AtomicBool>) -> Tally {
    let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
    let mut tally = Tally::default();
    // ID -> when sent (since start), and whether a stray answer came for it.
    let mut waiting: HashMap<u16, (f64, Instant, u64)> = HashMap::new();
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut id = 0u16;
    let mut buf = [0u8; 1500];
    let mut stopped_at: Option<Instant> = None;
    loop {
        if stopped_at.is_none() && stop.load(Ordering::Relaxed) {
            stopped_at = Some(Instant::now());
        }
        if stopped_at.is_some_and(|at| at.elapsed() > DEADLINE) {
            break;
        }
        tokio::select! {
            _ = ticks.tick(), if stopped_at.is_none() => {
                id = id.wrapping_add(1);
                tally.sent += 1;
                let _ = socket.send_to(&query(id), vip()).await;
                waiting.insert(id, (started.elapsed().as_secs_f64(), Instant::now(), 0));
            }
            received = socket.recv_from(&mut buf) => {
                if let Ok((n, from)) = received
                    && n >= 2
                {
                    let reply_id = u16::from_be_bytes([buf[0], buf[1]]);
                    if from != vip() {
                        tally.stray += 1;
                        if let Some(entry) = waiting.get_mut(&reply_id) {
                            entry.2 += 1;
                        }
                    } else if answers(&buf[..n], reply_id) && waiting.remove(&reply_id).is_some() {
                        tally.answered += 1;
                    }
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
        waiting.retain(|_, (sent, at, stray)| {
            if at.elapsed() <= DEADLINE {
                return true;
            }
            tally.lost_at.push(*sent);
            if *stray > 0 {
                tally.lost_in_flight += 1;
            }
            false
        });
    }
    for (sent, _, stray) in waiting.into_values() {
        tally.lost_at.push(sent);
        if stray > 0 {
            tally.lost_in_flight += 1;
        }
    }
    tally
}
