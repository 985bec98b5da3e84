//! A small DNS server for tests: UDP on 127.0.0.1, answering A questions
//! for the names the test sets, with the addresses and TTL it sets, or
//! failing on purpose (SERVFAIL, NXDOMAIN, silence). AAAA questions for a
//! known name get an empty answer; unknown names get NXDOMAIN.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::Result;

/// How one name is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Addrs {
        addrs: Vec<Ipv4Addr>,
        ttl: u32,
    },
    ServFail,
    NxDomain,
    /// No answer at all (the client times out).
    Silent,
}

impl Answer {
    pub fn addrs(addrs: &[Ipv4Addr], ttl: u32) -> Answer {
        Answer::Addrs {
            addrs: addrs.to_vec(),
            ttl,
        }
    }
}

struct State {
    stop: AtomicBool,
    names: Mutex<HashMap<String, Answer>>,
    /// A questions received, per name.
    asked: Mutex<HashMap<String, usize>>,
}

pub struct DnsServer {
    addr: SocketAddr,
    state: Arc<State>,
    thread: Option<JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl DnsServer {
    pub fn start() -> Result<DnsServer> {
        let sock = UdpSocket::bind("127.0.0.1:0")?;
        sock.set_read_timeout(Some(Duration::from_millis(50)))?;
        let addr = sock.local_addr()?;
        let state = Arc::new(State {
            stop: AtomicBool::new(false),
            names: Mutex::new(HashMap::new()),
            asked: Mutex::new(HashMap::new()),
        });
        let s2 = state.clone();
        let thread = std::thread::Builder::new()
            .name("test-dns".into())
            .spawn(move || serve(sock, &s2))?;
        Ok(DnsServer {
            addr,
            state,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How `name` (lower-case, no trailing dot) is answered from now on.
    pub fn set(&self, name: &str, answer: Answer) {
        lock(&self.state.names).insert(name.to_string(), answer);
    }

    /// A questions received for `name` so far.
    pub fn asked(&self, name: &str) -> usize {
        lock(&self.state.asked).get(name).copied().unwrap_or(0)
    }

    /// Waits until `name` was asked at least `n` times; false on timeout.
    pub fn wait_asked(&self, name: &str, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.asked(name) < n {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(sock: UdpSocket, state: &State) {
    let mut buf = [0u8; 1500];
    while !state.stop.load(Ordering::SeqCst) {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let Some((name, qtype, question_end)) = question(&buf[..n]) else {
            continue;
        };
        if qtype == 1 {
            *lock(&state.asked).entry(name.clone()).or_default() += 1;
        }
        let answer = lock(&state.names).get(&name).cloned();
        let (rcode, addrs, ttl) = match (answer, qtype) {
            (None, _) | (Some(Answer::NxDomain), _) => (3, Vec::new(), 0),
            (Some(Answer::ServFail), _) => (2, Vec::new(), 0),
            (Some(Answer::Silent), _) => continue,
            (Some(Answer::Addrs { addrs, ttl }), 1) => (0, addrs, ttl),
            (Some(Answer::Addrs { .. }), _) => (0, Vec::new(), 0),
        };
        let mut out = Vec::with_capacity(question_end + 16 * addrs.len());
        out.extend_from_slice(&buf[..2]);
        out.extend_from_slice(&(0x8180u16 | rcode).to_be_bytes());
        out.extend_from_slice(&[0, 1]);
        out.extend_from_slice(&(addrs.len() as u16).to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&buf[12..question_end]);
        for a in addrs {
            out.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
            out.extend_from_slice(&ttl.to_be_bytes());
            out.extend_from_slice(&[0, 4]);
            out.extend_from_slice(&a.octets());
        }
        let _ = sock.send_to(&out, from);
    }
}

/// The question's name (lower-case), type, and where it ends.
fn question(m: &[u8]) -> Option<(String, u16, usize)> {
    if m.len() < 12 || m.get(4..6)? != [0, 1] {
        return None;
    }
    let mut at = 12;
    let mut name = String::new();
    loop {
        let len = usize::from(*m.get(at)?);
        if len == 0 {
            at += 1;
            break;
        }
        if len > 63 {
            return None;
        }
        if !name.is_empty() {
            name.push('.');
        }
        name.push_str(&String::from_utf8_lossy(m.get(at + 1..at + 1 + len)?).to_ascii_lowercase());
        at += 1 + len;
    }
    let qtype = u16::from_be_bytes([*m.get(at)?, *m.get(at + 1)?]);
    Some((name, qtype, at + 4))
}
