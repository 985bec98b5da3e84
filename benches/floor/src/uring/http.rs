//! Message boundaries on a byte stream that is forwarded verbatim.
//!
//! Bytes are sent on as they arrive (out of the buffer they were received
//! in); parsing only finds where each request and response ends, so
//! keep-alive and pipelining stay in step, and refuses what it cannot delimit
//! (the connection then closes). A head split over receives is copied until
//! whole — the only copy, and rare: heads are far smaller than a buffer.

/// What this forwarder will not frame: close the connection.
#[derive(Debug, PartialEq, Eq)]
pub struct Bad;

/// Longest head accepted (a head must also fit in a receive buffer to be
/// parsed without a copy).
const HEAD_MAX: usize = 16 * 1024;
const FIELDS: usize = 64;

/// For each request forwarded and not yet answered, oldest first: was it a
/// HEAD (whose response has no body whatever its Content-Length says)?
#[derive(Default)]
pub struct Pending {
    head_bits: u64,
    count: u32,
}

impl Pending {
    fn push(&mut self, head: bool) -> Result<(), Bad> {
        if self.count == u64::BITS {
            return Err(Bad);
        }
        self.head_bits |= u64::from(head) << self.count;
        self.count += 1;
        Ok(())
    }

    fn pop(&mut self) -> Option<bool> {
        if self.count == 0 {
            return None;
        }
        let head = self.head_bits & 1 == 1;
        self.head_bits >>= 1;
        self.count -= 1;
        Some(head)
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Where one direction's stream is: in a body, or at (or inside) a head.
#[derive(Default)]
pub struct Framer {
    body_left: u64,
    /// A head's first bytes, when its receive ended before it did.
    head: Vec<u8>,
}

/// The length of a complete head and of the body after it; `None` while the
/// head is partial (then `Pending` is untouched).
type Parse = fn(&[u8], &mut Pending) -> Result<Option<(usize, u64)>, Bad>;

impl Framer {
    pub fn reset(&mut self) {
        self.body_left = 0;
        self.head.clear();
    }

    /// Between messages.
    pub fn idle(&self) -> bool {
        self.body_left == 0 && self.head.is_empty()
    }

    pub fn feed_request(&mut self, data: &[u8], pending: &mut Pending) -> Result<(), Bad> {
        self.feed(data, pending, request_head)
    }

    pub fn feed_response(&mut self, data: &[u8], pending: &mut Pending) -> Result<(), Bad> {
        self.feed(data, pending, response_head)
    }

    fn feed(&mut self, mut data: &[u8], pending: &mut Pending, parse: Parse) -> Result<(), Bad> {
        while !data.is_empty() {
            if self.body_left > 0 {
                let n = data
                    .len()
                    .min(usize::try_from(self.body_left).unwrap_or(usize::MAX));
                self.body_left -= n as u64;
                data = &data[n..];
            } else if self.head.is_empty() {
                match parse(data, pending)? {
                    Some((head, body)) => {
                        self.body_left = body;
                        data = &data[head..];
                    }
                    None if data.len() < HEAD_MAX => {
                        self.head.extend_from_slice(data);
                        return Ok(());
                    }
                    None => return Err(Bad),
                }
            } else {
                let had = self.head.len();
                let take = data.len().min(HEAD_MAX - had);
                self.head.extend_from_slice(&data[..take]);
                match parse(&self.head, pending)? {
                    // The earlier bytes alone were not a whole head, so it ends in `data`.
                    Some((head, body)) if head > had => {
                        self.head.clear();
                        self.body_left = body;
                        data = &data[head - had..];
                    }
                    Some(_) => return Err(Bad),
                    None if self.head.len() < HEAD_MAX => return Ok(()),
                    None => return Err(Bad),
                }
            }
        }
        Ok(())
    }
}

fn request_head(buf: &[u8], pending: &mut Pending) -> Result<Option<(usize, u64)>, Bad> {
    let mut fields = [httparse::EMPTY_HEADER; FIELDS];
    let mut req = httparse::Request::new(&mut fields);
    let head = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(Bad),
    };
    let body = body_length(req.headers)?.unwrap_or(0);
    pending.push(req.method == Some("HEAD"))?;
    Ok(Some((head, body)))
}

fn response_head(buf: &[u8], pending: &mut Pending) -> Result<Option<(usize, u64)>, Bad> {
    let mut fields = [httparse::EMPTY_HEADER; FIELDS];
    let mut res = httparse::Response::new(&mut fields);
    let head = match res.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(Bad),
    };
    let code = res.code.unwrap_or(0);
    if code == 101 {
        return Err(Bad);
    }
    // Interim: the final response to the same request follows.
    if (100..200).contains(&code) {
        return Ok(Some((head, 0)));
    }
    // A response nobody asked for cannot be matched to a request.
    let to_head = pending.pop().ok_or(Bad)?;
    if to_head || code == 204 || code == 304 {
        return Ok(Some((head, 0)));
    }
    Ok(Some((head, body_length(res.headers)?.ok_or(Bad)?)))
}

/// Content-Length, if any; a body delimited otherwise (chunked) is refused.
fn body_length(fields: &[httparse::Header<'_>]) -> Result<Option<u64>, Bad> {
    let mut length = None;
    for f in fields {
        if f.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Bad);
        }
        if f.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(f.value).map_err(|_| Bad)?.trim();
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Bad);
            }
            let n = v.parse::<u64>().map_err(|_| Bad)?;
            if length.is_some_and(|l| l != n) {
                return Err(Bad);
            }
            length = Some(n);
        }
    }
    Ok(length)
}

#[cfg(test)]
mod tests {
    use super::{Bad, Framer, Pending};

    const GET: &[u8] = b"GET /tiny HTTP/1.1\r\nHost: a\r\n\r\n";
    const OK5: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

    #[test]
    fn keep_alive_exchanges_end_where_their_lengths_say() {
        let (mut req, mut res, mut p) = (Framer::default(), Framer::default(), Pending::default());
        for _ in 0..3 {
            req.feed_request(GET, &mut p).unwrap();
            assert!(req.idle() && !p.is_empty());
            res.feed_response(&OK5[..20], &mut p).unwrap();
            assert!(!res.idle());
            res.feed_response(&OK5[20..], &mut p).unwrap();
            assert!(res.idle() && p.is_empty());
        }
    }

    #[test]
    fn heads_split_anywhere_and_bodies_are_followed() {
        let post = b"POST /u HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
        let mut stream = post.to_vec();
        stream.extend_from_slice(GET);
        for cut in 1..stream.len() {
            let (mut f, mut p) = (Framer::default(), Pending::default());
            f.feed_request(&stream[..cut], &mut p).unwrap();
            f.feed_request(&stream[cut..], &mut p).unwrap();
            assert!(f.idle(), "cut at {cut}");
            assert_eq!(p.count, 2, "pipelined: both requests counted");
        }
    }

    #[test]
    fn bodiless_responses_take_no_body() {
        let (mut req, mut res, mut p) = (Framer::default(), Framer::default(), Pending::default());
        req.feed_request(b"HEAD / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n", &mut p)
            .unwrap();
        res.feed_response(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", &mut p)
            .unwrap();
        assert!(res.idle(), "the answer to HEAD has no body");
        res.feed_response(b"HTTP/1.1 100 Continue\r\n\r\n", &mut p)
            .unwrap();
        assert!(!p.is_empty(), "an interim response answers nothing yet");
        res.feed_response(b"HTTP/1.1 304 Not Modified\r\n\r\n", &mut p)
            .unwrap();
        assert!(res.idle() && p.is_empty());
    }

    #[test]
    fn what_cannot_be_delimited_is_refused() {
        let mut p = Pending::default();
        let r = Framer::default().feed_response(OK5, &mut p);
        assert_eq!(r, Err(Bad), "a response to no request");
        let mut req = Framer::default();
        req.feed_request(GET, &mut p).unwrap();
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(Framer::default().feed_response(chunked, &mut p), Err(Bad));
        req.feed_request(GET, &mut p).unwrap();
        let no_length = b"HTTP/1.1 200 OK\r\n\r\n";
        assert_eq!(Framer::default().feed_response(no_length, &mut p), Err(Bad));
        let te = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(Framer::default().feed_request(te, &mut p), Err(Bad));
        assert_eq!(
            Framer::default().feed_request(b"\x01garbage\r\n\r\n", &mut p),
            Err(Bad)
        );
        let endless = vec![b'a'; 20 * 1024];
        let mut f = Framer::default();
        let r = f
            .feed_request(b"GET / HTTP/1.1\r\nX: ", &mut p)
            .and_then(|()| f.feed_request(&endless, &mut p));
        assert_eq!(r, Err(Bad), "a head longer than HEAD_MAX");
    }
}
