//! A small HTTP/1.1 test server on its own thread, with scripted behaviour,
//! for the tests of the load generator and of `shipway bench`. A thread per
//! connection: plenty for tests, not a benchmark target.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the server does with each request.
#[derive(Clone)]
pub enum Behaviour {
    /// 200 with a small body; while `(now - origin) mod period` is in the
    /// last `stall` of the period, requests wait for the period to end.
    Stall { period: Duration, stall: Duration },
    /// Every response has this status.
    Status(u16),
    /// A chunked 200 response.
    Chunked,
    /// Close the connection without answering.
    Hangup,
    /// Read requests and never answer.
    Silent,
    /// Answer each request after this delay.
    Delay(Duration),
}

pub struct Server {
    pub addr: SocketAddr,
    /// When the server started: the origin of its stall schedule.
    pub origin: Instant,
}

impl Server {
    pub fn start(b: Behaviour) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let origin = Instant::now();
        let b = Arc::new(b);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let b = b.clone();
                std::thread::spawn(move || serve(conn, &b, origin));
            }
        });
        Server { addr, origin }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// Serve one connection, a thread per connection (plenty for tests).
fn serve(mut conn: TcpStream, b: &Behaviour, origin: Instant) {
    let _ = conn.set_nodelay(true);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // One request head (the tests send no bodies).
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        buf.drain(..end);
        let reply: Vec<u8> = match b {
            Behaviour::Stall { period, stall } => {
                let into = origin.elapsed().as_secs_f64() % period.as_secs_f64();
                let stall_from = (*period - *stall).as_secs_f64();
                if into >= stall_from {
                    std::thread::sleep(Duration::from_secs_f64(period.as_secs_f64() - into));
                }
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec()
            }
            Behaviour::Status(code) => format!("HTTP/1.1 {code} X\r\nContent-Length: 1\r\n\r\nx").into_bytes(),
            Behaviour::Chunked => {
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".to_vec()
            }
            Behaviour::Hangup => return,
            Behaviour::Silent => {
                std::thread::sleep(Duration::from_secs(3600));
                return;
            }
            Behaviour::Delay(d) => {
                std::thread::sleep(*d);
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec()
            }
        };
        if conn.write_all(&reply).is_err() {
            return;
        }
    }
}
