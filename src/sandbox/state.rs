//! The sandbox's in-memory ledger: orders, their status machine, the request and
//! confirmation logs, pending faults and drops (refunds live in `refunds.rs`).
//!
//! Invariants: flowOrder numbers are consecutive from [`FIRST_FLOW_ORDER`] across all
//! merchants, so an order's index is `flowOrder - FIRST_FLOW_ORDER`; a final status
//! (2 paid, 3 rejected, 4 cancelled) never changes; a pending order whose `timeout` has
//! passed on the sandbox clock reports 4 and can no longer be settled. The state sits
//! behind a `std::sync::Mutex` that is never held across an `.await`.

use std::collections::HashMap;

use rand::Rng;
use serde_json::{Value, json};
use time::{
    Duration, OffsetDateTime, Weekday, format_description::BorrowedFormatItem,
    macros::format_description,
};

use super::model::{ConfirmationRecord, Fault, FaultKind, Outcome, RecordedRequest, SandboxError};
use super::refunds::RefundBook;
use super::rules::{Amount, CreateOrder, fee_minor, minor_json};

/// The first flowOrder handed out.
pub const FIRST_FLOW_ORDER: i64 = 9_000_001;

const DATE_TIME: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
const DATE: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// `yyyy-mm-dd hh:mm:ss` (UTC; Flow's own zone is undocumented).
pub fn date_time(t: OffsetDateTime) -> String {
    t.format(DATE_TIME).unwrap_or_default()
}

fn date(t: OffsetDateTime) -> String {
    t.format(DATE).unwrap_or_default()
}

/// The next business day after `t` (Flow pays out the working day after a payment).
fn next_business_day(t: OffsetDateTime) -> OffsetDateTime {
    let mut d = t + Duration::days(1);
    while matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) {
        d += Duration::days(1);
    }
    d
}

/// A token like Flow's: 39 uppercase hex digits and one letter from G to Z.
pub fn new_token() -> String {
    const HEX: &[u8] = b"0123456789ABCDEF";
    let mut rng = rand::rng();
    let mut token: String = (0..39)
        .map(|_| HEX[rng.random_range(0..16)] as char)
        .collect();
    token.push(rng.random_range(b'G'..=b'Z') as char);
    token
}

/// An order's stored status; expiry is derived from the clock, see [`Order::status_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Pending,
    Paid,
    Rejected,
    Cancelled,
}

#[derive(Debug, Clone)]
pub struct Order {
    pub token: String,
    pub flow_order: i64,
    pub api_key: String,
    pub req: CreateOrder,
    pub created_at: OffsetDateTime,
    pub status: Stored,
    pub settled_at: Option<OffsetDateTime>,
    /// When the payer left it pending with a cash coupon.
    pub coupon_at: Option<OffsetDateTime>,
}

impl Order {
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.status == Stored::Pending
            && self
                .req
                .timeout_seconds
                .is_some_and(|t| self.created_at + Duration::seconds(t) <= now)
    }

    /// Flow's status number: 1 pending, 2 paid, 3 rejected, 4 cancelled or expired.
    pub fn status_code(&self, now: OffsetDateTime) -> u8 {
        match self.status {
            Stored::Pending if self.is_expired(now) => 4,
            Stored::Pending => 1,
            Stored::Paid => 2,
            Stored::Rejected => 3,
            Stored::Cancelled => 4,
        }
    }

    pub fn amount(&self) -> &Amount {
        &self.req.amount
    }

    /// The PaymentStatus JSON that the getStatus services return.
    pub fn status_json(&self, now: OffsetDateTime) -> Value {
        let amount = self.amount();
        let payment_data = match (self.status, self.settled_at) {
            (Stored::Paid, Some(paid)) => {
                let fee = fee_minor(amount.minor);
                json!({
                    "date": date_time(paid),
                    "media": "webpay",
                    "conversionDate": date(paid),
                    "conversionRate": 1,
                    "amount": amount.json(),
                    "currency": self.req.currency,
                    "fee": minor_json(fee, amount.exponent),
                    "balance": minor_json(amount.minor - fee, amount.exponent),
                    "transferDate": date(next_business_day(paid)),
                })
            }
            _ => Value::Null,
        };
        let pending_info = match self.coupon_at {
            Some(at) => json!({"media": "Multicaja", "date": date_time(at)}),
            None => json!({"media": null, "date": null}),
        };
        json!({
            "flowOrder": self.flow_order,
            "commerceOrder": self.req.commerce_order,
            "requestDate": date_time(self.created_at),
            "status": self.status_code(now),
            "subject": self.req.subject,
            "currency": self.req.currency,
            "amount": amount.json(),
            "payer": self.req.email,
            "optional": self.req.optional.clone().unwrap_or(Value::Null),
            "pending_info": pending_info,
            "paymentData": payment_data,
            "merchantId": null,
        })
    }
}

/// Where a settled order's confirmation goes.
pub enum Delivery {
    /// No confirmation (left pending).
    None,
    /// Dropped on purpose: record it, send nothing.
    Drop {
        url: String,
    },
    Send {
        url: String,
    },
}

#[derive(Default)]
pub struct State {
    orders: Vec<Order>,
    by_token: HashMap<String, usize>,
    pub faults: Vec<Fault>,
    pub drops_pending: u32,
    pub requests: Vec<RecordedRequest>,
    pub confirmations: Vec<ConfirmationRecord>,
    pub refunds: RefundBook,
    /// Refund callbacks (POSTs to `urlCallBack`), apart from payment confirmations.
    pub refund_callbacks: Vec<ConfirmationRecord>,
}

impl State {
    /// Stores a validated order and returns its (token, flowOrder).
    pub fn create(
        &mut self,
        api_key: &str,
        req: CreateOrder,
        now: OffsetDateTime,
    ) -> (String, i64) {
        let mut token = new_token();
        while self.by_token.contains_key(&token) {
            token = new_token();
        }
        let flow_order = FIRST_FLOW_ORDER + self.orders.len() as i64;
        self.by_token.insert(token.clone(), self.orders.len());
        self.orders.push(Order {
            token: token.clone(),
            flow_order,
            api_key: api_key.to_string(),
            req,
            created_at: now,
            status: Stored::Pending,
            settled_at: None,
            coupon_at: None,
        });
        (token, flow_order)
    }

    pub fn by_token(&self, token: &str) -> Option<&Order> {
        self.by_token.get(token).map(|&i| &self.orders[i])
    }

    pub fn by_flow_order(&self, flow_order: i64) -> Option<&Order> {
        let index = usize::try_from(flow_order.checked_sub(FIRST_FLOW_ORDER)?).ok()?;
        self.orders.get(index)
    }

    /// The merchant's order with this commerceOrder: the paid one if any, else the latest.
    pub fn by_commerce_id(&self, api_key: &str, commerce_id: &str) -> Option<&Order> {
        let mut mine = self
            .orders
            .iter()
            .filter(|o| o.api_key == api_key && o.req.commerce_order == commerce_id);
        let latest = mine.clone().next_back();
        mine.find(|o| o.status == Stored::Paid).or(latest)
    }

    /// Applies `outcome` to the order, if its status allows it, and decides the
    /// confirmation (consuming one pending drop when a confirmation is due).
    pub fn settle(
        &mut self,
        token: &str,
        outcome: Outcome,
        now: OffsetDateTime,
    ) -> Result<(Value, Delivery), SandboxError> {
        let index = *self
            .by_token
            .get(token)
            .ok_or_else(|| SandboxError::UnknownToken(token.to_string()))?;
        let order = &mut self.orders[index];
        if order.is_expired(now) {
            return Err(SandboxError::Expired);
        }
        if order.status != Stored::Pending {
            return Err(SandboxError::AlreadyFinal {
                status: order.status_code(now),
            });
        }
        let next = match outcome {
            Outcome::Paid => Stored::Paid,
            Outcome::Rejected => Stored::Rejected,
            Outcome::Cancelled => Stored::Cancelled,
            Outcome::Pending => Stored::Pending,
        };
        let delivery = if next == Stored::Pending {
            order.coupon_at = Some(now);
            Delivery::None
        } else {
            order.status = next;
            order.settled_at = Some(now);
            let url = order.req.url_confirmation.clone();
            if self.drops_pending > 0 {
                self.drops_pending -= 1;
                Delivery::Drop { url }
            } else {
                Delivery::Send { url }
            }
        };
        Ok((self.orders[index].status_json(now), delivery))
    }

    /// Takes the first fault matching `endpoint`, counting one use of it.
    pub fn take_fault(&mut self, endpoint: &str) -> Option<FaultKind> {
        let index = self
            .faults
            .iter()
            .position(|f| f.target.matches(endpoint))?;
        let fault = &mut self.faults[index];
        let kind = fault.kind.clone();
        match &mut fault.times {
            Some(left) if *left <= 1 => {
                self.faults.remove(index);
            }
            Some(left) => *left -= 1,
            None => {}
        }
        Some(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_look_like_flows() {
        for _ in 0..100 {
            let t = new_token();
            assert_eq!(t.len(), 40);
            assert!(
                t[..39]
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_lowercase())
            );
            assert!((b'G'..=b'Z').contains(&t.as_bytes()[39]));
        }
    }

    #[test]
    fn payout_skips_the_weekend() {
        let friday = time::macros::datetime!(2017-07-21 12:32:11 UTC);
        assert_eq!(date(next_business_day(friday)), "2017-07-24");
    }
}
