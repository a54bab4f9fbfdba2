//! What every test harness shares: the binary under test, free loopback ports, waiting on a
//! condition with a deadline, and reading tool results. Each harness includes this module
//! (`#[path = "../support/mod.rs"]`) and re-exports what its tests use.

#![allow(dead_code)] // each harness uses its own part

use std::future::Future;
use std::time::{Duration, Instant};

use rmcp::model::CallToolResult;
use serde_json::{Map, Value};

/// The `paylink` binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_paylink");

/// A loopback port free right now (the OS picks it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `cond` until it holds; fails the test, naming `what`, after `timeout`.
pub async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A JSON object literal as tool arguments.
pub fn args(v: Value) -> Map<String, Value> {
    v.as_object().expect("arguments are an object").clone()
}

/// The structured result of a call that must have succeeded.
pub fn structured(r: &CallToolResult) -> Value {
    assert_ne!(
        r.is_error,
        Some(true),
        "tool failed: {:?}",
        r.structured_content
    );
    r.structured_content.clone().expect("structuredContent")
}

/// The `error` object of a call that must have failed.
pub fn error_of(r: &CallToolResult) -> Value {
    assert_eq!(
        r.is_error,
        Some(true),
        "expected a tool error, got {:?}",
        r.structured_content
    );
    r.structured_content.clone().expect("error JSON")["error"].clone()
}

/// The Flow token in a create result's `paymentLinkUrl` (`...?token=<token>`).
pub fn token_of(created: &Value) -> String {
    created["paymentLinkUrl"]
        .as_str()
        .and_then(|link| link.split("token=").nth(1))
        .expect("a payment link with a token")
        .to_string()
}
