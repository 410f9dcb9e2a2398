//! A small HTTP/1.1 test server on its own thread, with scripted behaviour,
//! for the tests of the load generator and of `shipway bench`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
    /// Serve on a loopback port from one thread running a single-threaded
    /// event loop (few threads to schedule, so the server adds little
    /// latency of its own even on a busy machine).
    pub fn start(b: Behaviour) -> Server {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("addr");
        let origin = Instant::now();
        let b = Arc::new(b);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                loop {
                    let Ok((conn, _)) = listener.accept().await else { continue };
                    let b = b.clone();
                    tokio::task::spawn_local(async move { serve(conn, &b, origin).await });
                }
            });
        });
        Server { addr, origin }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// Serve one connection.
async fn serve(mut conn: TcpStream, b: &Behaviour, origin: Instant) {
    let _ = conn.set_nodelay(true);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // One request head (the tests send no bodies).
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match conn.read(&mut chunk).await {
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
                    tokio::time::sleep(Duration::from_secs_f64(period.as_secs_f64() - into)).await;
                }
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec()
            }
            Behaviour::Status(code) => format!("HTTP/1.1 {code} X\r\nContent-Length: 1\r\n\r\nx").into_bytes(),
            Behaviour::Chunked => {
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".to_vec()
            }
            Behaviour::Hangup => return,
            Behaviour::Silent => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            Behaviour::Delay(d) => {
                tokio::time::sleep(*d).await;
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec()
            }
        };
        if conn.write_all(&reply).await.is_err() {
            return;
        }
    }
}
