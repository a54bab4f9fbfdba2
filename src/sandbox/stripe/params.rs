//! The parameters of `GET /v1/checkout/sessions` and `GET /v1/webhook_endpoints` (`limit`,
//! cursors, filters) and of `POST /v1/webhook_endpoints`, checked as `rules.rs` checks a
//! session create: unknown parameters first, then each value.

use super::error::ApiError;
use super::rules::{expand, owned, read_metadata, url};
use super::wire::Obj;

/// A list's `limit`: 1 to 100, default 10.
pub fn limit(form: &Obj) -> Result<usize, ApiError> {
    match form.integer("limit")? {
        None => Ok(10),
        Some(n) if (1..=100).contains(&n) => Ok(n as usize),
        Some(_) => Err(ApiError::invalid(
            "parameter_invalid_integer",
            "limit must be between 1 and 100.",
        )
        .param("limit")),
    }
}

/// The `created` filter: an exact time or any of `gt`, `gte`, `lt`, `lte`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Range {
    pub gt: Option<i64>,
    pub gte: Option<i64>,
    pub lt: Option<i64>,
    pub lte: Option<i64>,
}

impl Range {
    pub fn contains(&self, t: i64) -> bool {
        self.gt.is_none_or(|v| t > v)
            && self.gte.is_none_or(|v| t >= v)
            && self.lt.is_none_or(|v| t < v)
            && self.lte.is_none_or(|v| t <= v)
    }
}

/// `GET /v1/checkout/sessions` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub limit: usize,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
    pub created: Range,
    pub payment_intent: Option<String>,
    pub status: Option<String>,
    pub customer_email: Option<String>,
    pub expand_payment_intent: bool,
}

pub fn validate_list(form: &Obj) -> Result<ListQuery, ApiError> {
    form.only(&[
        "limit",
        "starting_after",
        "ending_before",
        "created",
        "payment_intent",
        "status",
        "customer_details",
        "expand",
    ])?;
    let created = match form.object("created") {
        Ok(Some(range)) => {
            let range = range.obj();
            range.only(&["gt", "gte", "lt", "lte"])?;
            Range {
                gt: range.integer("gt")?,
                gte: range.integer("gte")?,
                lt: range.integer("lt")?,
                lte: range.integer("lte")?,
            }
        }
        Ok(None) => Range::default(),
        Err(_) => {
            let exact = form.required_integer("created")?;
            Range {
                gte: Some(exact),
                lte: Some(exact),
                ..Range::default()
            }
        }
    };
    let status = owned(form.string("status")?);
    if let Some(s) = &status
        && !["open", "complete", "expired"].contains(&s.as_str())
    {
        return Err(ApiError::invalid_uncoded(format!(
            "Invalid status: must be one of open, complete, or expired (got {s})"
        ))
        .param("status"));
    }
    let customer_email = match form.object("customer_details")? {
        None => None,
        Some(details) => {
            let details = details.obj();
            details.only(&["email"])?;
            Some(details.required_string("email")?.to_string())
        }
    };
    let expand = expand(form, &["data.payment_intent"])?;
    Ok(ListQuery {
        limit: limit(form)?,
        starting_after: owned(form.string("starting_after")?),
        ending_before: owned(form.string("ending_before")?),
        created,
        payment_intent: owned(form.string("payment_intent")?),
        status,
        customer_email,
        expand_payment_intent: !expand.is_empty(),
    })
}

/// A `POST /v1/webhook_endpoints` request that passed every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEndpoint {
    pub url: String,
    pub enabled_events: Vec<String>,
    pub description: Option<String>,
    pub metadata: Vec<(String, String)>,
    pub api_version: Option<String>,
}

/// `*` or a dotted lowercase event name such as `checkout.session.completed`. The sandbox
/// does not know every Stripe event type, so any well-formed name is accepted.
pub fn event_type_ok(name: &str) -> bool {
    name == "*"
        || (name.len() <= 100
            && name.contains('.')
            && name
                .split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')))
}

pub fn validate_endpoint(form: &Obj) -> Result<NewEndpoint, ApiError> {
    form.only(&[
        "url",
        "enabled_events",
        "description",
        "metadata",
        "api_version",
    ])?;
    let url = url(form, "url")?.ok_or_else(|| ApiError::missing("url"))?;
    let events = form
        .string_array("enabled_events")?
        .filter(|e| !e.is_empty())
        .ok_or_else(|| ApiError::missing("enabled_events"))?;
    if let Some(bad) = events.iter().find(|e| !event_type_ok(e)) {
        return Err(ApiError::invalid_uncoded(format!(
            "Invalid event type in enabled_events: {bad}"
        ))
        .param("enabled_events"));
    }
    Ok(NewEndpoint {
        url,
        enabled_events: events.into_iter().map(str::to_string).collect(),
        description: owned(form.string("description")?),
        metadata: read_metadata(form, "metadata")?,
        api_version: owned(form.string("api_version")?),
    })
}

/// Whether an endpoint listening to `enabled` receives `event_type`.
pub fn listens_to(enabled: &[String], event_type: &str) -> bool {
    enabled.iter().any(|e| e == "*" || e == event_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_event_names() {
        let r = Range {
            gte: Some(10),
            lt: Some(20),
            ..Range::default()
        };
        assert!(r.contains(10) && r.contains(19) && !r.contains(20) && !r.contains(9));
        assert!(event_type_ok("checkout.session.completed") && event_type_ok("*"));
        assert!(!event_type_ok("Checkout") && !event_type_ok("a..b") && !event_type_ok(""));
    }
}
