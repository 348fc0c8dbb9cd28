//! A process group over TCP for training on several machines: a rendezvous at rank 0's address
//! and a ring all-reduce (sum) of `f32` buffers, the algorithm NCCL and Horovod use: each rank
//! sends and receives `2·(world−1)/world` of the buffer per reduction, whatever the world size.
//!
//! Hand-written because burn 0.22 has no collective across processes: its DDP strategy all-reduces
//! between the devices of one process, and only on CUDA (NCCL).
//!
//! Protocol (all integers little-endian):
//! 1. Every rank listens on an ephemeral port for its ring neighbour. Ranks `1..world` connect to
//!    the coordinator (rank 0) and send a framed JSON [`Hello`]: rank, world size, ring port and a
//!    fingerprint of the run (config, data, step) that must match rank 0's.
//! 2. Rank 0 answers each with a framed JSON [`Welcome`]: the ring address of every rank, or the
//!    error that stops the run (every rank then reports the same cause).
//! 3. Rank `r` connects to rank `r+1`'s ring port and accepts rank `r−1`'s connection; then
//!    reductions stream raw `f32` chunks around the ring.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How long ranks wait for each other at start-up (machines start at different times).
const RENDEZVOUS_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a rank waits on a silent neighbour during training before it gives up.
const PEER_TIMEOUT: Duration = Duration::from_secs(600);
/// Pause between connection attempts while the other side is not listening yet.
const RETRY_INTERVAL: Duration = Duration::from_millis(100);
/// Limit of one connection attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest rendezvous message accepted (a fingerprint is a few kilobytes).
const MAX_MESSAGE_BYTES: u32 = 1 << 20;

/// Where one process stands in a multi-process run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// This process's index, `0..world_size`; rank 0 is the coordinator.
    pub rank: usize,
    /// Number of processes in the run.
    pub world_size: usize,
    /// `host:port` where rank 0 listens; every rank names the same address.
    pub coordinator: String,
}

/// Why a group could not form or a reduction failed; the message names the rank and the cause.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GroupError(String);

/// A rank's introduction to the coordinator.
#[derive(Debug, Serialize, Deserialize)]
struct Hello {
    rank: usize,
    world_size: usize,
    ring_port: u16,
    fingerprint: serde_json::Value,
}

/// The coordinator's answer: every rank's ring address, or why the run cannot start.
#[derive(Debug, Serialize, Deserialize)]
enum Welcome {
    Ring(Vec<SocketAddr>),
    Refused(String),
}

/// A formed group: this rank's links to its ring neighbours.
#[derive(Debug)]
pub struct Group {
    rank: usize,
    world_size: usize,
    /// Link to rank `rank + 1` (none in a group of one).
    to_next: Option<TcpStream>,
    /// Link from rank `rank - 1`.
    from_prev: Option<TcpStream>,
}

impl Group {
    /// A group of one process: reductions leave buffers unchanged.
    pub fn single() -> Self {
        Group {
            rank: 0,
            world_size: 1,
            to_next: None,
            from_prev: None,
        }
    }

    /// Joins the group `config` describes, waiting for every rank. `fingerprint` describes what
    /// must be equal on every rank (config, data, starting step); the first difference from rank
    /// 0's is reported by name.
    pub fn join(config: &GroupConfig, fingerprint: serde_json::Value) -> Result<Self, GroupError> {
        let GroupConfig {
            rank,
            world_size,
            ref coordinator,
        } = *config;
        if world_size == 0 || rank >= world_size {
            return Err(GroupError(format!(
                "rank {rank} is outside a world of {world_size} processes (ranks are 0..{world_size})"
            )));
        }
        if world_size == 1 {
            return Ok(Group::single());
        }
        let coordinator_addr = resolve(coordinator)?;
        let ring_listener = TcpListener::bind((unspecified_like(&coordinator_addr), 0))
            .map_err(|e| GroupError(format!("rank {rank}: cannot open a ring port: {e}")))?;
        let ring_port = ring_listener
            .local_addr()
            .map_err(|e| GroupError(format!("rank {rank}: ring port: {e}")))?
            .port();
        let ring = if rank == 0 {
            coordinate(coordinator_addr, world_size, ring_port, &fingerprint)?
        } else {
            let hello = Hello {
                rank,
                world_size,
                ring_port,
                fingerprint,
            };
            introduce(coordinator_addr, &hello)?
        };
        let next = (rank + 1) % world_size;
        let to_next = connect_with_retry(ring[next], RENDEZVOUS_TIMEOUT).map_err(|e| {
            GroupError(format!(
                "rank {rank}: cannot reach rank {next} at {}: {e}",
                ring[next]
            ))
        })?;
        send_frame(&mut &to_next, &(rank as u64).to_le_bytes())
            .map_err(|e| GroupError(format!("rank {rank}: introducing to rank {next}: {e}")))?;
        let from_prev = accept_neighbour(&ring_listener, rank, world_size)?;
        for stream in [&to_next, &from_prev] {
            configure_for_training(stream)
                .map_err(|e| GroupError(format!("rank {rank}: ring socket: {e}")))?;
        }
        Ok(Group {
            rank,
            world_size,
            to_next: Some(to_next),
            from_prev: Some(from_prev),
        })
    }

    /// Number of processes.
    pub fn world_size(&self) -> usize {
        self.world_size
    }

    /// Replaces `values` on every rank by the element-wise sum over all ranks. Every rank must
    /// call it with a buffer of the same length; afterwards all ranks hold bit-identical sums.
    pub fn all_reduce_sum(&mut self, values: &mut [f32]) -> Result<(), GroupError> {
        let (Some(to_next), Some(from_prev)) = (&mut self.to_next, &mut self.from_prev) else {
            return Ok(());
        };
        let (rank, world, len) = (self.rank, self.world_size, values.len());
        let chunk = |c: usize| c * len / world..(c + 1) * len / world;
        let broken = |phase: &str, (peer, e): (usize, io::Error)| {
            let cause = match e.kind() {
                io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::BrokenPipe => format!("rank {peer} closed the connection ({e})"),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                    format!("rank {peer} sent nothing for {} s", PEER_TIMEOUT.as_secs())
                }
                _ => format!("talking to rank {peer}: {e}"),
            };
            GroupError(format!("rank {rank}: ring all-reduce ({phase}): {cause}"))
        };
        let (prev, next) = ((rank + world - 1) % world, (rank + 1) % world);
        let mut received = Vec::new();
        // Reduce-scatter: after world−1 exchanges rank r holds the full sum of chunk r+1.
        for s in 0..world - 1 {
            let send = chunk((rank + world - s) % world);
            let recv = chunk((rank + 2 * world - s - 1) % world);
            received.resize(recv.len(), 0.0);
            exchange(to_next, &values[send], from_prev, &mut received)
                .map_err(|side| broken("reduce-scatter", side.peer(prev, next)))?;
            for (sum, part) in values[recv].iter_mut().zip(&received) {
                *sum += part;
            }
        }
        // All-gather: pass the finished chunks around the ring.
        for s in 0..world - 1 {
            let send = chunk((rank + 1 + world - s) % world);
            let recv = chunk((rank + world - s) % world);
            received.resize(recv.len(), 0.0);
            exchange(to_next, &values[send], from_prev, &mut received)
                .map_err(|side| broken("all-gather", side.peer(prev, next)))?;
            values[recv].copy_from_slice(&received);
        }
        Ok(())
    }
}

/// Which link of an exchange failed.
#[derive(Debug)]
enum LinkError {
    FromPrevious(io::Error),
    ToNext(io::Error),
}

impl LinkError {
    /// The rank at the other end of the failed link, and the cause.
    fn peer(self, prev: usize, next: usize) -> (usize, io::Error) {
        match self {
            LinkError::FromPrevious(e) => (prev, e),
            LinkError::ToNext(e) => (next, e),
        }
    }
}

/// Sends `outgoing` to the next rank while receiving `incoming` from the previous one (both at
/// once, so that neither side blocks on a full socket buffer).
fn exchange(
    to_next: &mut TcpStream,
    outgoing: &[f32],
    from_prev: &mut TcpStream,
    incoming: &mut [f32],
) -> Result<(), LinkError> {
    let bytes: Vec<u8> = outgoing.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::thread::scope(|scope| {
        let sender = scope.spawn(move || to_next.write_all(&bytes));
        let mut buffer = vec![0u8; incoming.len() * 4];
        let received = from_prev.read_exact(&mut buffer);
        let sent = sender.join().expect("the sending thread does not panic");
        received.map_err(LinkError::FromPrevious)?;
        sent.map_err(LinkError::ToNext)?;
        for (value, b) in incoming.iter_mut().zip(buffer.chunks_exact(4)) {
            *value = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        Ok(())
    })
}

/// Rank 0: collects every rank's hello, checks them against its own, answers with the ring.
fn coordinate(
    listen: SocketAddr,
    world_size: usize,
    own_ring_port: u16,
    fingerprint: &serde_json::Value,
) -> Result<Vec<SocketAddr>, GroupError> {
    let listener = TcpListener::bind(listen)
        .map_err(|e| GroupError(format!("rank 0: cannot listen on {listen}: {e}")))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| GroupError(format!("rank 0: {e}")))?;
    let deadline = Instant::now() + RENDEZVOUS_TIMEOUT;
    let mut ring: Vec<Option<SocketAddr>> = vec![None; world_size];
    ring[0] = Some(SocketAddr::new(listen.ip(), own_ring_port));
    let mut joined: Vec<TcpStream> = Vec::new();
    let mut refusal = None;
    while joined.len() < world_size - 1 {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    let missing: Vec<usize> =
                        (1..world_size).filter(|&r| ring[r].is_none()).collect();
                    return Err(GroupError(format!(
                        "rank 0: ranks {missing:?} did not join at {listen} within {} s",
                        RENDEZVOUS_TIMEOUT.as_secs()
                    )));
                }
                std::thread::sleep(RETRY_INTERVAL);
                continue;
            }
            Err(e) => return Err(GroupError(format!("rank 0: accepting on {listen}: {e}"))),
        };
        stream
            .set_nonblocking(false)
            .and_then(|()| stream.set_read_timeout(Some(RENDEZVOUS_TIMEOUT)))
            .map_err(|e| GroupError(format!("rank 0: {e}")))?;
        let hello: Hello = receive_json(&mut &stream)
            .map_err(|e| GroupError(format!("rank 0: a joining process at {peer}: {e}")))?;
        let problem = if hello.world_size != world_size {
            Some(format!(
                "rank {} was started with world size {}, rank 0 with {world_size}",
                hello.rank, hello.world_size
            ))
        } else if hello.rank == 0 || hello.rank >= world_size {
            Some(format!(
                "a process at {peer} claims rank {}, outside 1..{world_size}",
                hello.rank
            ))
        } else if ring[hello.rank].is_some() {
            Some(format!(
                "two processes claim rank {} (the second from {peer})",
                hello.rank
            ))
        } else {
            first_difference(fingerprint, &hello.fingerprint, "").map(|(path, ours, theirs)| {
                format!(
                    "rank {} differs from rank 0 in `{path}`: {theirs} there, {ours} on rank 0",
                    hello.rank
                )
            })
        };
        if let Some(problem) = problem {
            refusal.get_or_insert(problem);
        } else {
            ring[hello.rank] = Some(SocketAddr::new(peer.ip(), hello.ring_port));
        }
        // Even after a refusal, keep collecting: every rank must hear why the run stops.
        joined.push(stream);
    }
    let welcome = match (&refusal, ring.iter().copied().collect::<Option<Vec<_>>>()) {
        (None, Some(ring)) => Welcome::Ring(ring),
        (Some(problem), _) => Welcome::Refused(problem.clone()),
        (None, None) => unreachable!("every rank joined"),
    };
    for stream in &joined {
        // A rank that already left cannot be told; it has its own error.
        let _ = send_json(&mut &*stream, &welcome);
    }
    match welcome {
        Welcome::Ring(ring) => Ok(ring),
        Welcome::Refused(problem) => Err(GroupError(format!("rank 0: {problem}"))),
    }
}

/// Ranks 1..: introduces itself to the coordinator and waits for the ring.
fn introduce(coordinator: SocketAddr, hello: &Hello) -> Result<Vec<SocketAddr>, GroupError> {
    let rank = hello.rank;
    let stream = connect_with_retry(coordinator, RENDEZVOUS_TIMEOUT).map_err(|e| {
        GroupError(format!(
            "rank {rank}: cannot reach the coordinator (rank 0) at {coordinator}: {e}"
        ))
    })?;
    let talk = || -> io::Result<Welcome> {
        stream.set_read_timeout(Some(RENDEZVOUS_TIMEOUT))?;
        send_json(&mut &stream, hello)?;
        receive_json(&mut &stream)
    };
    match talk().map_err(|e| GroupError(format!("rank {rank}: rendezvous with rank 0: {e}")))? {
        Welcome::Ring(mut ring) => {
            // Rank 0 listens on the coordinator's interface; reach it the way we reached it.
            ring[0] = SocketAddr::new(coordinator.ip(), ring[0].port());
            Ok(ring)
        }
        Welcome::Refused(problem) => Err(GroupError(format!("rank {rank}: {problem}"))),
    }
}

/// Accepts the previous rank's ring connection and checks who it is.
fn accept_neighbour(
    listener: &TcpListener,
    rank: usize,
    world_size: usize,
) -> Result<TcpStream, GroupError> {
    let prev = (rank + world_size - 1) % world_size;
    let fail = |e: io::Error| GroupError(format!("rank {rank}: waiting for rank {prev}: {e}"));
    listener.set_nonblocking(true).map_err(fail)?;
    let deadline = Instant::now() + RENDEZVOUS_TIMEOUT;
    let stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(RETRY_INTERVAL)
            }
            Err(e) => return Err(fail(e)),
        }
    };
    stream.set_nonblocking(false).map_err(fail)?;
    stream
        .set_read_timeout(Some(RENDEZVOUS_TIMEOUT))
        .map_err(fail)?;
    let frame = receive_frame(&mut &stream).map_err(fail)?;
    let claimed = <[u8; 8]>::try_from(frame.as_slice())
        .ok()
        .map(u64::from_le_bytes);
    if claimed != Some(prev as u64) {
        return Err(GroupError(format!(
            "rank {rank}: expected rank {prev} on the ring port, got {claimed:?}"
        )));
    }
    Ok(stream)
}

/// Resolves `host:port` to its first address.
fn resolve(address: &str) -> Result<SocketAddr, GroupError> {
    address
        .to_socket_addrs()
        .map_err(|e| GroupError(format!("coordinator address {address:?}: {e}")))?
        .next()
        .ok_or_else(|| {
            GroupError(format!(
                "coordinator address {address:?} resolves to nothing"
            ))
        })
}

/// The wildcard address of `addr`'s family (ring ports listen on every interface).
fn unspecified_like(addr: &SocketAddr) -> IpAddr {
    match addr {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}

/// Connects, retrying while nobody listens yet, until `timeout`.
fn connect_with_retry(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let deadline = Instant::now() + timeout;
    loop {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(_) if Instant::now() < deadline => std::thread::sleep(RETRY_INTERVAL),
            Err(e) => return Err(e),
        }
    }
}

/// Training traffic: no Nagle delay, and a silent neighbour is an error rather than a hang.
fn configure_for_training(stream: &TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(PEER_TIMEOUT))?;
    stream.set_write_timeout(Some(PEER_TIMEOUT))
}

/// Writes a length-prefixed frame.
fn send_frame(stream: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len()).map_err(io::Error::other)?;
    stream.write_all(&len.to_le_bytes())?;
    stream.write_all(payload)?;
    stream.flush()
}

/// Reads a length-prefixed frame.
fn receive_frame(stream: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len);
    if len > MAX_MESSAGE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a {len}-byte message is not part of the protocol"),
        ));
    }
    let mut payload = vec![0u8; len as usize];
    stream.read_exact(&mut payload)?;
    Ok(payload)
}

fn send_json(stream: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    send_frame(
        stream,
        &serde_json::to_vec(value).map_err(io::Error::other)?,
    )
}

fn receive_json<T: for<'de> Deserialize<'de>>(stream: &mut impl Read) -> io::Result<T> {
    let frame = receive_frame(stream)?;
    serde_json::from_slice(&frame).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The first place where two JSON values differ: its path and both values.
fn first_difference(
    ours: &serde_json::Value,
    theirs: &serde_json::Value,
    path: &str,
) -> Option<(String, String, String)> {
    use serde_json::Value;
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|key| {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let (x, y) = (
                    a.get(key).unwrap_or(&Value::Null),
                    b.get(key).unwrap_or(&Value::Null),
                );
                first_difference(x, y, &child)
            })
        }
        _ if ours == theirs => None,
        _ => Some((path.to_string(), ours.to_string(), theirs.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// Runs `work` on `world` ranks joined over localhost, one thread each.
    fn on_ranks<T: Send>(
        world: usize,
        fingerprint: impl Fn(usize) -> serde_json::Value + Sync,
        work: impl Fn(Result<Group, GroupError>) -> T + Sync,
    ) -> Vec<T> {
        let coordinator = format!("127.0.0.1:{}", free_port());
        std::thread::scope(|scope| {
            let ranks: Vec<_> = (0..world)
                .map(|rank| {
                    let config = GroupConfig {
                        rank,
                        world_size: world,
                        coordinator: coordinator.clone(),
                    };
                    let (fingerprint, work) = (&fingerprint, &work);
                    scope.spawn(move || work(Group::join(&config, fingerprint(rank))))
                })
                .collect();
            ranks.into_iter().map(|r| r.join().unwrap()).collect()
        })
    }

    #[test]
    fn ring_all_reduce_sums_exactly_on_every_rank() {
        // Lengths below, at and above the world size, and one not divisible by it.
        for world in [2, 3, 4] {
            for len in [1, world, 10, 1001] {
                let input = |rank: usize| -> Vec<f32> {
                    (0..len).map(|i| (i * 7 + rank * 13) as f32).collect()
                };
                let expected: Vec<f32> = (0..len)
                    .map(|i| (0..world).map(|r| (i * 7 + r * 13) as f32).sum())
                    .collect();
                let results = on_ranks(
                    world,
                    |_| serde_json::json!({"run": 1}),
                    |group| {
                        let mut group = group.unwrap();
                        let mut values = input(group.rank);
                        group.all_reduce_sum(&mut values).unwrap();
                        // A second reduction on the same links.
                        let mut twice = values.clone();
                        group.all_reduce_sum(&mut twice).unwrap();
                        (values, twice)
                    },
                );
                for (values, twice) in results {
                    assert_eq!(values, expected, "world {world}, length {len}");
                    let scaled: Vec<f32> = expected.iter().map(|v| v * world as f32).collect();
                    assert_eq!(twice, scaled, "world {world}, length {len}");
                }
            }
        }
    }

    #[test]
    fn a_group_of_one_leaves_values_alone() {
        let mut group = Group::join(
            &GroupConfig {
                rank: 0,
                world_size: 1,
                coordinator: "unused:0".into(),
            },
            serde_json::Value::Null,
        )
        .unwrap();
        let mut values = vec![1.5, -2.0];
        group.all_reduce_sum(&mut values).unwrap();
        assert_eq!(values, [1.5, -2.0]);
    }

    #[test]
    fn a_rank_with_another_config_is_refused_by_name() {
        let errors = on_ranks(
            3,
            |rank| serde_json::json!({"model": {"n_layer": if rank == 2 { 6 } else { 4 }}}),
            |group| group.unwrap_err().to_string(),
        );
        for error in &errors {
            assert!(
                error.contains(
                    "rank 2 differs from rank 0 in `model.n_layer`: 6 there, 4 on rank 0"
                ),
                "{error}"
            );
        }
    }

    #[test]
    fn bad_ranks_are_clear_errors() {
        let err = Group::join(
            &GroupConfig {
                rank: 2,
                world_size: 2,
                coordinator: "127.0.0.1:1".into(),
            },
            serde_json::Value::Null,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("rank 2 is outside a world of 2"),
            "{err}"
        );
    }

    #[test]
    fn a_vanished_neighbour_is_an_error_not_a_hang() {
        let results = on_ranks(
            2,
            |_| serde_json::Value::Null,
            |group| {
                let mut group = group.unwrap();
                if group.rank == 1 {
                    return None; // drops its links
                }
                std::thread::sleep(Duration::from_millis(200));
                let mut values = vec![1.0; 1 << 16];
                Some(group.all_reduce_sum(&mut values).unwrap_err().to_string())
            },
        );
        let error = results[0].as_ref().unwrap();
        assert!(
            error.contains("rank 0: ring all-reduce") && error.contains("rank 1 closed"),
            "{error}"
        );
    }
}
