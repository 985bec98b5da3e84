//! Reading a chunked body (RFC 9112 §7.1) from a blocking socket, keeping the
//! exact wire bytes next to the decoded data and trailers.

use super::{Body, Headers, Reader};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Default)]
pub struct ChunkedBody {
    pub data: Vec<u8>,
    pub raw: Vec<u8>,
    pub trailers: Headers,
    /// The last chunk and the trailer section's end were seen.
    pub complete: bool,
}

impl ChunkedBody {
    pub fn into_body(self) -> Body {
        Body {
            data: self.data,
            raw: self.raw,
            trailers: self.trailers,
            complete: self.complete,
        }
    }
}

pub fn read<S: std::io::Read>(r: &mut Reader<S>) -> Result<ChunkedBody> {
    let mut out = ChunkedBody::default();
    loop {
        let (line, whole) = r.read_line()?;
        out.raw.extend_from_slice(&line);
        if !whole {
            return Ok(out);
        }
        let text = String::from_utf8_lossy(&line);
        let size_str = text.trim_end().split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size_str, 16)
            .map_err(|_| Error::Malformed(format!("chunk size line {text:?}")))?;
        if size == 0 {
            return read_trailers(r, out);
        }
        let chunk = r.read_exact_or_eof(size)?;
        out.raw.extend_from_slice(&chunk.data);
        out.data.extend_from_slice(&chunk.data);
        if !chunk.complete {
            return Ok(out);
        }
        let (crlf, whole) = r.read_line()?;
        out.raw.extend_from_slice(&crlf);
        if !whole {
            return Ok(out);
        }
        if crlf != b"\r\n" {
            return Err(Error::Malformed(format!(
                "chunk not followed by CRLF: {crlf:?}"
            )));
        }
    }
}

fn read_trailers<S: std::io::Read>(r: &mut Reader<S>, mut out: ChunkedBody) -> Result<ChunkedBody> {
    loop {
        let (line, whole) = r.read_line()?;
        out.raw.extend_from_slice(&line);
        if !whole {
            return Ok(out);
        }
        if line == b"\r\n" || line == b"\n" {
            out.complete = true;
            return Ok(out);
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        let (name, value) = text
            .split_once(':')
            .ok_or_else(|| Error::Malformed(format!("trailer line {text:?}")))?;
        out.trailers
            .0
            .push((name.to_string(), value.trim().to_string()));
    }
}
