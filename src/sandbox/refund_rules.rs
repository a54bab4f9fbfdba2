//! `refund/create`'s rules as the sandbox enforces them, over the (signature-checked)
//! parameters and the sandbox's state; no HTTP, so they are unit-tested directly.
//!
//! Order of checks: required params (`refundCommerceOrder`, `receiverEmail`, `amount`,
//! `urlCallBack`, and `flowTrxId` or `commerceTrxId`) → receiver e-mail (1620) → the
//! original payment ("Transaction not found"; when both ids are given they must name the
//! same order) → amount in the payment's currency (107, 1902; no minimum) → a repeated
//! refundCommerceOrder → paid (1801) → what remains refundable (1801 when nothing is left,
//! 1802 when the amount is above it).
//!
//! A repeated refundCommerceOrder: Flow's documentation (OpenAPI 3.0.1, refund/create) and
//! our reference (flow-api.md §4.6) say nothing about it, and Flow's customer/charge was
//! seen not to de-duplicate by commerceOrder (§4.7). The sandbox answers the same refund again
//! when the payment, amount and receiver match, and 1803 otherwise (choice). paylink's
//! client does not rely on it: it re-sends a refund/create only when the first attempt
//! never reached Flow. The refund codes 1801–1804 are the sandbox's own (Flow publishes
//! none); the client maps them in `gateway::flow::refund`.

use time::OffsetDateTime;

use super::rules::{
    Amount, ApiError, email_is_valid, exponent_of, param, parse_decimal_amount, required,
};
use super::state::{Order, State};
use crate::gateway::flow::refund::{
    CODE_REFUND_EXCEEDS, CODE_REFUND_NOT_PAID, CODE_REFUND_ORDER_USED,
};

/// A `refund/create` that passed every rule.
#[derive(Debug, Clone)]
pub struct NewRefund {
    pub refund_commerce_order: String,
    pub receiver_email: String,
    pub amount: Amount,
    pub url_callback: String,
    /// The refunded payment's flowOrder.
    pub flow_order: i64,
}

/// What a valid `refund/create` does.
#[derive(Debug)]
pub enum Verdict {
    /// A new refund to store.
    Create(NewRefund),
    /// The same refund asked for again: its token.
    Existing(String),
}

/// The original payment named by `flowTrxId` and/or `commerceTrxId`.
fn original<'a>(
    params: &[(String, String)],
    api_key: &str,
    state: &'a State,
) -> Result<&'a Order, ApiError> {
    let by_flow = match param(params, "flowTrxId") {
        None => None,
        Some(id) => {
            let flow_order: i64 = id.trim().parse().map_err(|_| ApiError::not_found())?;
            let order = state
                .by_flow_order(flow_order)
                .filter(|o| o.api_key == api_key)
                .ok_or_else(ApiError::not_found)?;
            Some(order)
        }
    };
    match (by_flow, param(params, "commerceTrxId")) {
        (Some(order), None) => Ok(order),
        (Some(order), Some(commerce)) if order.req.commerce_order == commerce => Ok(order),
        (Some(_), Some(_)) => Err(ApiError::not_found()),
        (None, Some(commerce)) => state
            .by_commerce_id(api_key, commerce)
            .ok_or_else(ApiError::not_found),
        (None, None) => Err(ApiError::missing_params()),
    }
}

/// Checks a `refund/create` of `api_key` against the state at `now`.
pub fn validate_refund(
    params: &[(String, String)],
    api_key: &str,
    state: &State,
    now: OffsetDateTime,
) -> Result<Verdict, ApiError> {
    let refund_commerce_order = required(params, "refundCommerceOrder")?;
    let receiver_email = required(params, "receiverEmail")?;
    let amount_text = required(params, "amount")?;
    let url_callback = required(params, "urlCallBack")?;
    if param(params, "flowTrxId").is_none() && param(params, "commerceTrxId").is_none() {
        return Err(ApiError::missing_params());
    }
    if !email_is_valid(receiver_email) {
        return Err(ApiError::business(
            1620,
            format!("The receiverEmail: {receiver_email} is not valid."),
        ));
    }
    let order = original(params, api_key, state)?;
    let currency = order.req.currency.as_str();
    let amount = parse_decimal_amount(amount_text, currency)?;
    debug_assert_eq!(amount.exponent, exponent_of(currency));
    if let Some(earlier) = state
        .refunds
        .by_commerce_order(api_key, refund_commerce_order)
    {
        let same = earlier.req.flow_order == order.flow_order
            && earlier.req.amount.minor == amount.minor
            && earlier.req.receiver_email == receiver_email;
        if same {
            return Ok(Verdict::Existing(earlier.token.clone()));
        }
        return Err(ApiError::business(
            CODE_REFUND_ORDER_USED,
            format!(
                "The refundCommerceOrder {refund_commerce_order} was already used for another refund"
            ),
        ));
    }
    if order.status_code(now) != 2 {
        return Err(ApiError::business(
            CODE_REFUND_NOT_PAID,
            format!(
                "The transaction {} has not been paid, so it cannot be refunded",
                order.flow_order
            ),
        ));
    }
    let remaining = order.amount().minor - state.refunds.held_for(order.flow_order);
    if remaining <= 0 {
        return Err(ApiError::business(
            CODE_REFUND_NOT_PAID,
            format!(
                "The transaction {} has already been fully refunded",
                order.flow_order
            ),
        ));
    }
    if amount.minor > remaining {
        let shown = super::rules::minor_text(remaining, amount.exponent);
        return Err(ApiError::business(
            CODE_REFUND_EXCEEDS,
            format!(
                "The refund amount {amount_text} exceeds the refundable amount of the \
                 transaction {}: {shown} {currency}",
                order.flow_order
            ),
        ));
    }
    Ok(Verdict::Create(NewRefund {
        refund_commerce_order: refund_commerce_order.to_string(),
        receiver_email: receiver_email.to_string(),
        amount,
        url_callback: url_callback.to_string(),
        flow_order: order.flow_order,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::Merchant;
    use crate::sandbox::model::{Outcome, RefundAction};
    use crate::sandbox::rules::validate_create;

    const KEY: &str = "K";

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A state with one paid CLP 5000 order ("ORD-1") and one pending ("ORD-2").
    fn state(now: OffsetDateTime) -> State {
        let merchant = Merchant::default();
        let mut st = State::default();
        for (order, outcome) in [("ORD-1", Some(Outcome::Paid)), ("ORD-2", None)] {
            let req = validate_create(
                &pairs(&[
                    ("commerceOrder", order),
                    ("subject", "s"),
                    ("amount", "5000"),
                    ("email", "payer@gmail.com"),
                    ("urlConfirmation", "http://127.0.0.1:9/c"),
                    ("urlReturn", "http://127.0.0.1:9/r"),
                ]),
                &merchant,
            )
            .unwrap();
            let (token, _) = st.create(KEY, req, now);
            if let Some(outcome) = outcome {
                st.settle(&token, outcome, now).unwrap();
            }
        }
        st
    }

    fn refund(order: &str, rco: &str, amount: &str) -> Vec<(String, String)> {
        pairs(&[
            ("refundCommerceOrder", rco),
            ("receiverEmail", "payer@gmail.com"),
            ("amount", amount),
            ("urlCallBack", "http://127.0.0.1:9/refund"),
            ("commerceTrxId", order),
        ])
    }

    fn code(r: Result<Verdict, ApiError>) -> i64 {
        r.unwrap_err().code
    }

    #[test]
    fn refunds_are_checked_against_payment_state_and_what_remains() {
        let now = OffsetDateTime::now_utc();
        let mut st = state(now);
        let first = validate_refund(&refund("ORD-1", "rf_1", "3000"), KEY, &st, now).unwrap();
        let Verdict::Create(new) = first else {
            panic!("a new refund")
        };
        assert_eq!(new.amount.minor, 3000);
        let token = st.create_refund(KEY, new, now)["token"]
            .as_str()
            .unwrap()
            .to_string();
        // The same refundCommerceOrder, payment and amount: the same refund again.
        match validate_refund(&refund("ORD-1", "rf_1", "3000.00"), KEY, &st, now).unwrap() {
            Verdict::Existing(t) => assert_eq!(t, token),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            code(validate_refund(
                &refund("ORD-1", "rf_1", "100"),
                KEY,
                &st,
                now
            )),
            CODE_REFUND_ORDER_USED
        );
        // 2000 remain.
        assert_eq!(
            code(validate_refund(
                &refund("ORD-1", "rf_2", "2001"),
                KEY,
                &st,
                now
            )),
            CODE_REFUND_EXCEEDS
        );
        assert!(validate_refund(&refund("ORD-1", "rf_2", "2000"), KEY, &st, now).is_ok());
        // A rejected refund frees its amount.
        st.refunds
            .apply(&token, None, RefundAction::Reject)
            .unwrap();
        assert!(validate_refund(&refund("ORD-1", "rf_2", "5000"), KEY, &st, now).is_ok());

        assert_eq!(
            code(validate_refund(
                &refund("ORD-2", "rf_3", "100"),
                KEY,
                &st,
                now
            )),
            CODE_REFUND_NOT_PAID
        );
        assert_eq!(
            validate_refund(&refund("ORD-9", "rf_3", "100"), KEY, &st, now)
                .unwrap_err()
                .message,
            "Transaction not found"
        );
        assert_eq!(
            code(validate_refund(
                &refund("ORD-1", "rf_3", "1.5"),
                KEY,
                &st,
                now
            )),
            1902
        );
        assert!(
            validate_refund(&refund("ORD-1", "rf_3", "100"), "other", &st, now).is_err(),
            "another merchant's payment is not found"
        );
        let mut no_id = refund("ORD-1", "rf_3", "100");
        no_id.retain(|(k, _)| k != "commerceTrxId");
        assert_eq!(code(validate_refund(&no_id, KEY, &st, now)), 100);
    }
}
