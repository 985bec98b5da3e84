//! A request stream of an HTTP/3 connection, and what every phase does
//! with one when it fails.

use h3::error::{Code, StreamError};
use shardgate_proxy::{Error, ErrorKind};

/// A request stream of an HTTP/3 connection over quinn.
pub type Stream = h3::server::RequestStream<h3_quinn::BidiStream<bytes::Bytes>, bytes::Bytes>;

/// A send or receive on the stream failed. h3 found the client's message
/// malformed (a trailer section with pseudo-headers, or one over the header
/// limit): a client error the caller answers with a stream error; anything
/// else means the client reset the stream, stopped reading, or left.
pub fn client_gone(e: StreamError) -> Error {
    match e {
        StreamError::StreamError { code, .. } if code.value() == Code::H3_MESSAGE_ERROR.value() => {
            Error::new(ErrorKind::ClientMalformed { status: 400 })
        }
        StreamError::HeaderTooBig { .. } => Error::new(ErrorKind::ClientMalformed { status: 431 }),
        _ => Error::new(ErrorKind::ClientClosed),
    }
}

/// A send on the stream failed: the response head (or trailer section) is
/// larger than the client's SETTINGS_MAX_FIELD_SECTION_SIZE (h3 refuses it
/// before writing a byte, so another answer can still go), or the client
/// reset the stream, stopped reading, or left.
pub fn send_failed(e: StreamError) -> Error {
    match e {
        StreamError::HeaderTooBig { .. } => Error::new(ErrorKind::ResponseTooLarge),
        _ => Error::new(ErrorKind::ClientClosed),
    }
}

/// Ends both directions of the stream with `code` (a stream error: the
/// connection stays).
pub fn reset(stream: &mut Stream, code: Code) {
    stream.stop_stream(code);
    stream.stop_sending(code);
}
