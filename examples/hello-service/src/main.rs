//! A minimal HTTP/1.1 service: `GET /` answers `hello`, `GET /health`
//! answers `ok`, anything else is 404. One thread (a current-thread tokio
//! runtime), keep-alive connections.
//!
//! Usage: `hello-service [--port PORT]` (default: `$PORT`, else 8080).

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body): (StatusCode, &'static [u8]) = match req.uri().path() {
        "/" => (StatusCode::OK, b"hello\n"),
        "/health" => (StatusCode::OK, b"ok\n"),
        _ => (StatusCode::NOT_FOUND, b"not found\n"),
    };
    let mut resp = Response::new(Full::new(Bytes::from_static(body)));
    *resp.status_mut() = status;
    Ok(resp)
}

fn port() -> Result<u16, String> {
    let mut args = std::env::args().skip(1);
    let mut port = std::env::var("PORT").ok();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => port = Some(args.next().ok_or("--port needs a value")?),
            other => return Err(format!("unknown argument `{other}`; usage: hello-service [--port PORT]")),
        }
    }
    let text = port.unwrap_or_else(|| "8080".into());
    text.parse().map_err(|_| format!("invalid port `{text}`"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let port = match port() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("hello-service: {e}");
            std::process::exit(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hello-service: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!(
        "hello-service: listening on http://{}",
        listener.local_addr().map(|a| a.to_string()).unwrap_or_default()
    );
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service_fn(handle)).await;
        });
    }
}
