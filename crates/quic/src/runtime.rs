//! quinn's runtime on a shard: timers are monoio timers, spawned tasks are
//! monoio tasks on the shard's own thread (see `bound` for why the `Send`
//! bounds quinn asks for hold here).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use quinn::{AsyncTimer, AsyncUdpSocket, Runtime};

use crate::bound::ShardBound;
use crate::socket::ShardSocket;

/// The runtime handed to every shard's `quinn::Endpoint`. It holds nothing:
/// every call acts on the runtime of the thread it is made on, which is the
/// shard's (quinn calls it from the endpoint's and connections' own tasks).
#[derive(Debug, Default)]
pub struct MonoioRuntime;

impl Runtime for MonoioRuntime {
    fn new_timer(&self, at: Instant) -> Pin<Box<dyn AsyncTimer>> {
        let sleep = monoio::time::sleep_until(monoio::time::Instant::from_std(at));
        Box::pin(Timer(ShardBound::new(Box::pin(sleep))))
    }

    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) {
        // Detached: quinn's drivers end on their own when their endpoint or
        // connection is gone.
        drop(monoio::spawn(future));
    }

    /// Only reached through `Endpoint::rebind`, which shardgate never calls
    /// (shards build their endpoints with `new_with_abstract_socket`); a
    /// plain socket without redirection is the honest answer if it ever is.
    fn wrap_udp_socket(&self, sock: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        Ok(Arc::new(ShardSocket::plain(sock)?))
    }
}

struct Timer(ShardBound<Pin<Box<monoio::time::Sleep>>>);

impl std::fmt::Debug for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Timer")
    }
}

impl AsyncTimer for Timer {
    fn reset(mut self: Pin<&mut Self>, at: Instant) {
        self.0
            .get_mut()
            .as_mut()
            .reset(monoio::time::Instant::from_std(at));
    }

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context) -> Poll<()> {
        self.0.get_mut().as_mut().poll(cx)
    }
}
