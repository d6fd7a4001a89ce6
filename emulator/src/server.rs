//! The accept loop shared by every listener: TLS (or not), fault injection, request log.

use std::sync::Arc;

use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::faults;
use crate::state::{LoggedRequest, Shared};

pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    name: String,
    router: Router,
    shared: Arc<Shared>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (tls, name, router, shared) =
            (tls.clone(), name.clone(), router.clone(), shared.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                handle(req, name.clone(), router.clone(), shared.clone())
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            match tls {
                Some(acc) => {
                    if let Ok(s) = acc.accept(stream).await {
                        let _ = builder.serve_connection(TokioIo::new(s), svc).await;
                    }
                }
                None => {
                    let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                }
            }
        });
    }
}

async fn handle(
    req: Request<Incoming>,
    listener: String,
    router: Router,
    shared: Arc<Shared>,
) -> Result<Response<Body>, std::io::Error> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let content_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let admin = path.starts_with("/_emulator/");
    let log = |status: u16, form_keys: Vec<String>| {
        if !admin {
            shared.world().log.push(LoggedRequest {
                listener: listener.clone(),
                method: method.clone(),
                path: path.clone(),
                query: query.clone(),
                status,
                content_type: content_type.clone(),
                form_keys,
            });
        }
    };

    let fault = if admin {
        None
    } else {
        faults::take(&mut shared.world().faults, &listener, &method, &path)
    };
    if let Some(f) = fault {
        if let Some(ms) = f.delay_ms {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        if f.hang {
            log(0, vec![]);
            std::future::pending::<()>().await;
        }
        if f.reset {
            log(0, vec![]);
            return Err(std::io::Error::other("fault: connection reset"));
        }
        if let Some(status) = f.status {
            let mut b = Response::builder().status(status);
            if let Some(ct) = &f.content_type {
                b = b.header("content-type", ct);
            }
            if let Some(s) = f.retry_after {
                b = b.header("retry-after", s.to_string());
            }
            log(status, vec![]);
            return Ok(b
                .body(Body::from(f.body.clone().unwrap_or_default()))
                .unwrap_or_default());
        }
    }

    let mut req = req.map(Body::new);
    let mut form_keys = vec![];
    if content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
    {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, 4 << 20)
            .await
            .unwrap_or_default();
        form_keys = url::form_urlencoded::parse(&bytes)
            .map(|(k, _)| k.into_owned())
            .collect();
        req = Request::from_parts(parts, Body::from(bytes));
    }
    let resp = match router.oneshot(req).await {
        Ok(r) => r,
        Err(e) => match e {},
    };
    log(resp.status().as_u16(), form_keys);
    Ok(resp)
}
