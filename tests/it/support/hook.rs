//! A merchant endpoint on 127.0.0.1:0 that records every POST it receives (path, headers,
//! raw body) and answers 200: where the sandboxes send Flow's refund callbacks and Stripe's
//! webhook events. Waiting is on a condition with a deadline.

use std::future::IntoFuture;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::OriginalUri;
use axum::http::HeaderMap;
use axum::routing::post;

use super::wait_for;

#[derive(Clone, Debug)]
pub struct Hit {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Hit {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub struct Hook {
    /// `http://127.0.0.1:PORT` (any path is recorded).
    pub base: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Hook {
    pub async fn start() -> Hook {
        let hits = Arc::new(Mutex::new(Vec::new()));
        let seen = hits.clone();
        let app = axum::Router::new().fallback(post(
            move |OriginalUri(uri): OriginalUri, headers: HeaderMap, body: Bytes| async move {
                let path = uri.path().to_string();
                seen.lock().unwrap().push(Hit {
                    path,
                    headers,
                    body,
                });
                "ok"
            },
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(axum::serve(listener, app).into_future());
        Hook { base, hits }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Waits (at most five seconds) for a hit that `pick` accepts, and returns it.
    pub async fn wait_for(&self, what: &str, pick: impl Fn(&Hit) -> bool) -> Hit {
        wait_for(what, Duration::from_secs(5), || async {
            self.hits().iter().any(&pick)
        })
        .await;
        self.hits().into_iter().find(|h| pick(h)).unwrap()
    }
}
