//! A request stream of an HTTP/3 connection, and what every phase does
//! with one when it fails.

use h3::error::Code;
use shardgate_proxy::{Error, ErrorKind};

/// A request stream of an HTTP/3 connection over quinn.
pub type Stream = h3::server::RequestStream<h3_quinn::BidiStream<bytes::Bytes>, bytes::Bytes>;

/// A send or receive on the stream failed: the client reset it, stopped
/// reading, or the connection is gone.
pub fn client_gone(_: h3::error::StreamError) -> Error {
    Error::new(ErrorKind::ClientClosed)
}

/// Ends both directions of the stream with `code` (a stream error: the
/// connection stays).
pub fn reset(stream: &mut Stream, code: Code) {
    stream.stop_stream(code);
    stream.stop_sending(code);
}
