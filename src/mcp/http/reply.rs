//! One complete `application/json` reply for a call that answers with one message.
//!
//! In session mode rmcp answers every POSTed request with a `text/event-stream`, even when
//! the stream carries nothing but the result. An ordinary HTTP/1.1 client then reads a
//! chunked body whose end arrives in a separate segment, and waits for it. The streamable
//! HTTP spec lets a server answer with plain JSON when the client accepts it (rmcp
//! requires every client to accept both), so [`prefer_json`] reads the stream's first
//! event: when it is the call's response, that response is the whole reply, as JSON;
//! when the call really streams (a progress or log notification, or a request to the
//! client, comes first), the reply stays an event stream, with what was read put back in
//! front of the rest.

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use futures::StreamExt;

const EVENT_STREAM: &str = "text/event-stream";

/// What the first events of a stream turned out to be.
enum First {
    /// A JSON-RPC response: the whole answer.
    Response(Bytes),
    /// Something else comes first (or the stream ended or broke): keep streaming.
    Streams,
}

/// Turns an event-stream reply whose first message is the response into a JSON reply.
/// Anything else is returned as it came.
pub async fn prefer_json(response: Response) -> Response {
    let is_stream = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(EVENT_STREAM));
    if !is_stream || !response.status().is_success() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let mut body = body.into_data_stream();
    let mut read = Vec::new();
    let first = loop {
        match body.next().await {
            Some(Ok(chunk)) => {
                read.extend_from_slice(&chunk);
                match first_message(&read) {
                    Some(first) => break first,
                    None => continue,
                }
            }
            _ => break First::Streams,
        }
    };
    match first {
        First::Response(json) => {
            parts.headers.remove(header::CACHE_CONTROL);
            parts.headers.remove(header::TRANSFER_ENCODING);
            parts.headers.remove(header::CONTENT_LENGTH);
            parts.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Response::from_parts(parts, Body::from(json))
        }
        First::Streams => {
            let already = futures::stream::once(async move { Ok(Bytes::from(read)) });
            Response::from_parts(parts, Body::from_stream(already.chain(body)))
        }
    }
}

/// Which members a JSON-RPC message has, read without building its values.
#[derive(serde::Deserialize)]
struct Shape {
    method: Option<serde::de::IgnoredAny>,
    id: Option<serde::de::IgnoredAny>,
    result: Option<serde::de::IgnoredAny>,
    error: Option<serde::de::IgnoredAny>,
}

/// Looks through the complete events in `buf` for the first that carries data. `None`
/// while only priming events and comments have arrived.
fn first_message(buf: &[u8]) -> Option<First> {
    let text = std::str::from_utf8(buf).ok()?;
    let text = text.replace("\r\n", "\n");
    let complete = match text.rfind("\n\n") {
        Some(end) => &text[..end],
        None => return None,
    };
    for event in complete.split("\n\n") {
        let data: Vec<&str> = event
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        let data = data.join("\n");
        if data.trim().is_empty() {
            continue; // a priming event, a keep-alive comment
        }
        let Ok(shape) = serde_json::from_str::<Shape>(&data) else {
            return Some(First::Streams);
        };
        let is_response = shape.method.is_none()
            && shape.id.is_some()
            && (shape.result.is_some() || shape.error.is_some());
        return Some(if is_response {
            First::Response(Bytes::from(data))
        } else {
            First::Streams
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn sse(events: &[&str]) -> Response {
        let body = events.concat();
        Response::builder()
            .header(header::CONTENT_TYPE, EVENT_STREAM)
            .header("mcp-session-id", "s1")
            .body(Body::from(body))
            .unwrap()
    }

    async fn text(r: Response) -> String {
        let bytes = r.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_lone_response_becomes_json_after_priming() {
        let r = prefer_json(sse(&[
            "id: 0\nretry: 3000\ndata:\n\n",
            ": keep-alive\n\n",
            "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n",
        ]))
        .await;
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(r.headers()["mcp-session-id"], "s1");
        assert_eq!(
            text(r).await,
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}"
        );
    }

    #[tokio::test]
    async fn a_notification_first_keeps_the_whole_stream() {
        let events = [
            "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n",
            "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n",
        ];
        let r = prefer_json(sse(&events)).await;
        assert_eq!(r.headers()[header::CONTENT_TYPE], EVENT_STREAM);
        assert_eq!(text(r).await, events.concat());
    }

    #[tokio::test]
    async fn an_error_response_is_json_too() {
        let r = prefer_json(sse(&[
            "data: {\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32601,\"message\":\"x\"}}\n\n",
        ]))
        .await;
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    }
}
