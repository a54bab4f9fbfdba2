use super::*;

fn api(status: u16, kind: &str, code: Option<&str>, param: Option<&str>) -> StripeError {
    StripeError::Api(Box::new(ApiFailure {
        http_status: status,
        kind: kind.into(),
        code: code.map(Into::into),
        message: "Stripe says no".into(),
        param: param.map(Into::into),
        decline_code: None,
        retry_after: None,
    }))
}

/// What a mapped error is, in short: the variant and its deciding fields.
fn shape(e: GatewayError) -> String {
    match e {
        GatewayError::Unavailable {
            outcome_unknown,
            retry_after,
            ..
        } => format!("unavailable unknown={outcome_unknown} after={retry_after:?}"),
        GatewayError::Rejected { reason, code, .. } => {
            format!("rejected {reason:?} {}", code.unwrap_or_default())
        }
        GatewayError::Misconfigured { .. } => "misconfigured".into(),
        GatewayError::NotFound => "not_found".into(),
        GatewayError::LinkLost { .. } => "link_lost".into(),
    }
}

#[test]
fn stripe_errors_in_neutral_terms() {
    let ir = "invalid_request_error";
    let table: Vec<(StripeError, &str)> = vec![
        (api(401, ir, None, None), "misconfigured"),
        (api(403, ir, None, None), "misconfigured"),
        (
            StripeError::Http {
                http_status: 401,
                retry_after: None,
            },
            "misconfigured",
        ),
        (
            api(
                400,
                ir,
                Some("amount_too_small"),
                Some("line_items[0][price_data][unit_amount]"),
            ),
            "rejected BelowMinimum amount_too_small",
        ),
        (
            api(400, ir, Some("email_invalid"), Some("customer_email")),
            "rejected InvalidEmail email_invalid",
        ),
        (
            api(
                400,
                ir,
                Some("parameter_invalid_string"),
                Some("customer_email"),
            ),
            "rejected InvalidEmail parameter_invalid_string",
        ),
        (
            api(400, ir, None, Some("line_items[0][price_data][currency]")),
            "rejected CurrencyNotEnabled ",
        ),
        (
            api(400, ir, Some("currency_not_supported"), None),
            "rejected CurrencyNotEnabled currency_not_supported",
        ),
        (
            api(400, ir, Some("parameter_unknown"), Some("foo")),
            "rejected Other parameter_unknown",
        ),
        (
            api(402, "card_error", Some("card_declined"), None),
            "rejected Other card_declined",
        ),
        (api(400, TYPE_IDEMPOTENCY, None, None), "misconfigured"),
        (
            api(404, ir, Some("resource_missing"), Some("session")),
            "not_found",
        ),
        (
            api(409, TYPE_IDEMPOTENCY, Some("idempotency_key_in_use"), None),
            "unavailable unknown=true after=None",
        ),
        (
            {
                let mut e = api(429, ir, Some("rate_limit"), None);
                if let StripeError::Api(a) = &mut e {
                    a.retry_after = Some(Duration::from_secs(7));
                }
                e
            },
            "unavailable unknown=true after=Some(7s)",
        ),
        (
            api(500, "api_error", None, None),
            "unavailable unknown=true after=None",
        ),
        (
            StripeError::Http {
                http_status: 502,
                retry_after: None,
            },
            "unavailable unknown=true after=None",
        ),
        (
            StripeError::Timeout(Duration::from_secs(30)),
            "unavailable unknown=true after=None",
        ),
        (
            StripeError::Malformed("eof".into()),
            "unavailable unknown=true after=None",
        ),
        (
            StripeError::Transport("reset".into()),
            "unavailable unknown=true after=None",
        ),
        (
            StripeError::Connect("refused".into()),
            "unavailable unknown=false after=None",
        ),
        (StripeError::Config("bad url".into()), "misconfigured"),
        (
            StripeError::Amount(AmountRefusal::UnsupportedCurrency("UF")),
            "rejected Other amount_not_representable",
        ),
        (
            StripeError::BelowMinimum {
                minimum: "USD 0.50".into(),
            },
            "rejected BelowMinimum amount_too_small",
        ),
    ];
    for (e, want) in table {
        let label = format!("{e:?}");
        assert_eq!(shape(GatewayError::from(e)), want, "{label}");
    }
}

#[test]
fn retryable_and_never_sent_by_kind() {
    let ir = "invalid_request_error";
    let table: Vec<(StripeError, bool, bool)> = vec![
        (StripeError::Timeout(Duration::from_secs(1)), true, false),
        (StripeError::Connect("refused".into()), true, true),
        (StripeError::Transport("reset".into()), true, false),
        (StripeError::Malformed("eof".into()), true, false),
        (api(500, "api_error", None, None), true, false),
        (api(429, ir, None, None), true, false),
        (api(409, ir, None, None), true, false),
        (api(400, ir, None, None), false, false),
        (api(401, ir, None, None), false, false),
        (api(404, ir, Some("resource_missing"), None), false, false),
        (StripeError::Config("x".into()), false, false),
    ];
    for (e, retryable, never_sent) in table {
        assert_eq!(e.retryable(), retryable, "{e:?}");
        assert_eq!(e.never_sent(), never_sent, "{e:?}");
    }
}

#[test]
fn auth_messages_never_quote_the_key() {
    let mut e = api(401, "invalid_request_error", None, None);
    if let StripeError::Api(a) = &mut e {
        a.message = scrub("Invalid API Key provided: sk_test_****************abcd");
    }
    let GatewayError::Misconfigured { detail } = GatewayError::from(e) else {
        panic!("401 is misconfigured");
    };
    assert!(
        detail.contains("401") && !detail.contains("abcd"),
        "{detail}"
    );
}

#[test]
fn key_like_words_are_scrubbed() {
    let table = [
        (
            "Invalid API Key provided: sk_test_****abcd",
            "Invalid API Key provided: sk_test_…",
        ),
        (
            "The provided key 'rk_live_51Habc' does not have access",
            "The provided key 'rk_live_…' does not have access",
        ),
        ("secret whsec_abc123, done", "secret whsec_…, done"),
        ("ask_me and desk_top stay", "ask_me and desk_top stay"),
        (
            "No such checkout.session: 'cs_test_1'",
            "No such checkout.session: 'cs_test_1'",
        ),
        ("ñ sk_x", "ñ sk_…"),
    ];
    for (text, want) in table {
        assert_eq!(scrub(text), want, "{text}");
    }
}
