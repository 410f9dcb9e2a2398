//! The HTTP/1.1 wire format, as much as a load generator needs: one request
//! serialised once and written again and again, and responses read from a
//! buffer and skipped (`Content-Length`, chunked, or no body).
//!
//! Hand-written on top of `httparse` rather than a full client (hyper):
//! the generator must keep up with wrk, which does the same with its own
//! parser; a general client spends its time on what a benchmark does not
//! need (body streams, header maps, per-request allocation).

use tokio::io::{AsyncRead, AsyncReadExt};

/// Responses larger than this in their head are a protocol error.
const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 64;

/// One response's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) status: u16,
    /// The server keeps the connection open for the next request.
    pub(crate) keep_alive: bool,
}

#[derive(Debug)]
pub(crate) enum ReadError {
    /// The connection closed or was reset before a whole response arrived.
    Closed,
    /// The bytes are not an HTTP/1.x response this reader understands.
    Protocol(String),
}

impl From<std::io::Error> for ReadError {
    fn from(_: std::io::Error) -> ReadError {
        ReadError::Closed
    }
}

/// A connection's read buffer (kept across requests).
pub(crate) struct Reader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Default for Reader {
    fn default() -> Reader {
        Reader { buf: vec![0; 16 * 1024], start: 0, end: 0 }
    }
}

impl Reader {
    fn available(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Read more bytes; `Closed` at end of stream.
    async fn fill<S: AsyncRead + Unpin>(&mut self, s: &mut S) -> Result<(), ReadError> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < MAX_HEAD {
                self.buf.resize(self.buf.len() * 2, 0);
            } else {
                return Err(ReadError::Protocol(format!("response head larger than {MAX_HEAD} bytes")));
            }
        }
        let n = s.read(&mut self.buf[self.end..]).await?;
        if n == 0 {
            return Err(ReadError::Closed);
        }
        self.end += n;
        Ok(())
    }

    /// Skip `n` body bytes.
    async fn skip<S: AsyncRead + Unpin>(&mut self, s: &mut S, mut n: usize) -> Result<(), ReadError> {
        loop {
            let have = self.end - self.start;
            if have >= n {
                self.start += n;
                return Ok(());
            }
            n -= have;
            self.start = 0;
            self.end = 0;
            self.fill(s).await?;
        }
    }

    /// A CRLF-terminated line (without the CRLF), consumed.
    async fn line<S: AsyncRead + Unpin>(&mut self, s: &mut S) -> Result<Vec<u8>, ReadError> {
        loop {
            if let Some(i) = self.available().windows(2).position(|w| w == b"\r\n") {
                let line = self.available()[..i].to_vec();
                self.start += i + 2;
                return Ok(line);
            }
            if self.end - self.start > MAX_HEAD {
                return Err(ReadError::Protocol("chunk line too long".into()));
            }
            self.fill(s).await?;
        }
    }

    /// Read one whole response (skipping 1xx interim ones) for a request
    /// made with `method`.
    pub(crate) async fn response<S: AsyncRead + Unpin>(
        &mut self,
        s: &mut S,
        head_request: bool,
    ) -> Result<Response, ReadError> {
        loop {
            let (status, body, keep_alive, used) = loop {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut resp = httparse::Response::new(&mut headers);
                match resp.parse(self.available()) {
                    Ok(httparse::Status::Complete(used)) => {
                        let status = resp.code.unwrap_or(0);
                        let http10 = resp.version == Some(0);
                        let (body, keep_alive) = framing(status, http10, head_request, resp.headers)?;
                        break (status, body, keep_alive, used);
                    }
                    Ok(httparse::Status::Partial) => self.fill(s).await?,
                    Err(e) => return Err(ReadError::Protocol(format!("bad response head: {e}"))),
                }
            };
            self.start += used;
            match body {
                Body::Empty => {}
                Body::Length(n) => self.skip(s, n).await?,
                Body::Chunked => self.skip_chunks(s).await?,
                Body::UntilClose => {
                    // Read to end of stream; the connection is done.
                    loop {
                        self.start = self.end;
                        if self.fill(s).await.is_err() {
                            break;
                        }
                    }
                }
            }
            if (100..200).contains(&status) {
                continue;
            }
            return Ok(Response { status, keep_alive: keep_alive && !matches!(body, Body::UntilClose) });
        }
    }

    async fn skip_chunks<S: AsyncRead + Unpin>(&mut self, s: &mut S) -> Result<(), ReadError> {
        loop {
            let line = self.line(s).await?;
            let text = std::str::from_utf8(&line).map_err(|_| ReadError::Protocol("bad chunk size".into()))?;
            let size_text = text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| ReadError::Protocol(format!("bad chunk size `{size_text}`")))?;
            if size == 0 {
                // Trailers, up to an empty line.
                loop {
                    if self.line(s).await?.is_empty() {
                        return Ok(());
                    }
                }
            }
            self.skip(s, size).await?;
            if !self.line(s).await?.is_empty() {
                return Err(ReadError::Protocol("chunk not followed by CRLF".into()));
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    Empty,
    Length(usize),
    Chunked,
    UntilClose,
}

fn framing(
    status: u16,
    http10: bool,
    head_request: bool,
    headers: &[httparse::Header<'_>],
) -> Result<(Body, bool), ReadError> {
    let mut length = None;
    let mut chunked = false;
    let mut keep_alive = !http10;
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value).ok().and_then(|v| v.trim().parse::<usize>().ok());
            match v {
                Some(n) => length = Some(n),
                None => return Err(ReadError::Protocol("bad Content-Length".into())),
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = h.value.split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            for t in h.value.split(|&b| b == b',') {
                let t = t.trim_ascii();
                if t.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if t.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                }
            }
        }
    }
    let body = if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
        Body::Empty
    } else if chunked {
        Body::Chunked
    } else if let Some(n) = length {
        if n == 0 { Body::Empty } else { Body::Length(n) }
    } else {
        Body::UntilClose
    };
    Ok((body, keep_alive))
}

/// The bytes of one request.
pub(crate) fn request(method: &str, target: &str, host: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + body.len());
    out.extend_from_slice(format!("{method} {target} HTTP/1.1\r\n").as_bytes());
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        out.extend_from_slice(format!("Host: {host}\r\n").as_bytes());
    }
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    let sends_body = !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH");
    if sends_body && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length")) {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8], head: bool) -> Vec<Result<Response, String>> {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let mut s = bytes;
            let mut r = Reader { buf: vec![0; 8], start: 0, end: 0 };
            let mut out = Vec::new();
            loop {
                match r.response(&mut s, head).await {
                    Ok(resp) => out.push(Ok(resp)),
                    Err(ReadError::Closed) => break,
                    Err(ReadError::Protocol(e)) => {
                        out.push(Err(e));
                        break;
                    }
                }
            }
            out
        })
    }

    #[test]
    fn reads_length_chunked_empty_and_interim_responses_back_to_back() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello\
HTTP/1.1 100 Continue\r\n\r\n\
HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: 1\r\n\r\n\
HTTP/1.1 204 No Content\r\n\r\n\
HTTP/1.1 200 OK\r\nConnection: close\r\ncontent-length: 0\r\n\r\n";
        let got = read_all(wire, false);
        let want = [
            Ok(Response { status: 200, keep_alive: true }),
            Ok(Response { status: 404, keep_alive: true }),
            Ok(Response { status: 204, keep_alive: true }),
            Ok(Response { status: 200, keep_alive: false }),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn http10_and_read_to_close_bodies_end_the_connection() {
        let got = read_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false);
        assert_eq!(got, [Ok(Response { status: 200, keep_alive: false })]);
        let got = read_all(b"HTTP/1.1 200 OK\r\n\r\nbody until close", false);
        assert_eq!(got, [Ok(Response { status: 200, keep_alive: false })]);
        // A HEAD response has no body whatever its Content-Length says.
        let got = read_all(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nHTTP/1.1 201 OK\r\n\r\n", true);
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn malformed_responses_are_protocol_errors() {
        for bad in [
            &b"NOT HTTP\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ] {
            let got = read_all(bad, false);
            assert!(matches!(got.last(), Some(Err(_))), "{:?}: {got:?}", String::from_utf8_lossy(bad));
        }
        // A truncated response is a closed connection, not a response.
        assert!(read_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", false).is_empty());
    }

    #[test]
    fn request_bytes() {
        let r = request("GET", "/a?b=1", "h:8080", &[], b"");
        assert_eq!(r, b"GET /a?b=1 HTTP/1.1\r\nHost: h:8080\r\n\r\n");
        let r = request("POST", "/", "h", &[("X-A".into(), "1".into())], b"{}");
        assert_eq!(r, b"POST / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nContent-Length: 2\r\n\r\n{}");
        let r = request("GET", "/", "h", &[("host".into(), "other".into())], b"");
        assert_eq!(r, b"GET / HTTP/1.1\r\nhost: other\r\n\r\n");
    }

    proptest::proptest! {
        /// Any bytes at all: a response, a protocol error or a closed
        /// connection, never a panic or a hang.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512), head in proptest::bool::ANY) {
            let _ = read_all(&bytes, head);
        }

        /// Well-formed responses with random bodies, framings and chunk
        /// sizes are all read, back to back.
        #[test]
        fn generated_responses_are_read_whole(
            bodies in proptest::collection::vec((proptest::collection::vec(1usize..40, 0..5), proptest::bool::ANY, 200u16..600), 1..6)
        ) {
            let mut wire = Vec::new();
            // 204 and 304 never carry a body: the generator leaves them out.
            let bodies: Vec<_> = bodies.into_iter().map(|(c, k, s)| (c, k, if s == 204 || s == 304 { 200 } else { s })).collect();
            for (chunks, chunked, status) in &bodies {
                let body: Vec<u8> = chunks.iter().flat_map(|&n| std::iter::repeat_n(b'x', n)).collect();
                if *chunked {
                    wire.extend_from_slice(format!("HTTP/1.1 {status} S\r\nTransfer-Encoding: chunked\r\n\r\n").as_bytes());
                    for &n in chunks {
                        wire.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                        wire.extend(std::iter::repeat_n(b'x', n));
                        wire.extend_from_slice(b"\r\n");
                    }
                    wire.extend_from_slice(b"0\r\n\r\n");
                } else {
                    wire.extend_from_slice(format!("HTTP/1.1 {status} S\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
                    wire.extend_from_slice(&body);
                }
            }
            let got = read_all(&wire, false);
            let want: Vec<Result<Response, String>> = bodies
                .iter()
                .map(|(_, _, status)| Ok(Response { status: *status, keep_alive: true }))
                .collect();
            proptest::prop_assert_eq!(got, want);
        }
    }
}
