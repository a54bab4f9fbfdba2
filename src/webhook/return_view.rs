//! What the return page says, in the payer's language: one state per page (paid,
//! pending, rejected, cancelled, expired, failed, or no such payment), each with one
//! heading and one sentence, the amount as payers read it, the description, and the
//! merchant's name with a link back to its site.
//!
//! The page carries no internal ids and no raw status words; scripts and tests read the
//! state from `<body data-state="…">`. A pending page reloads itself (by GET with the
//! gateway token), so "this page will update" is true. Every value is escaped.

use crate::domain::{FailureReason, Payment, PaymentStatus};
use crate::html::{PAGE_CSS, escape as esc};
use crate::payer::{Lang, Merchant, amount_for_payer};

/// How often a pending page reloads itself.
pub(crate) const PENDING_REFRESH_SECS: u32 = 20;

/// The one thing a return page tells the payer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Paid,
    Pending,
    Rejected,
    Cancelled,
    Expired,
    Failed,
    /// No payment behind this address (or none readable right now).
    NotFound,
    Unavailable,
}

impl State {
    pub(crate) fn of(p: &Payment) -> State {
        match p.status {
            PaymentStatus::Paid => State::Paid,
            PaymentStatus::Pending | PaymentStatus::Draft => State::Pending,
            PaymentStatus::Failed => match p.failure_reason {
                Some(FailureReason::Rejected) => State::Rejected,
                Some(FailureReason::Cancelled) => State::Cancelled,
                Some(FailureReason::Expired) => State::Expired,
                Some(
                    FailureReason::GatewayRefused
                    | FailureReason::LinkLost
                    | FailureReason::NotCreated,
                )
                | None => State::Failed,
            },
        }
    }

    /// The machine-readable name in `data-state` (and the CSS class).
    pub(crate) fn key(self) -> &'static str {
        match self {
            State::Paid => "paid",
            State::Pending => "pending",
            State::Rejected => "rejected",
            State::Cancelled => "cancelled",
            State::Expired => "expired",
            State::Failed => "failed",
            State::NotFound => "not-found",
            State::Unavailable => "unavailable",
        }
    }

    /// The heading and the one sentence for the payer.
    pub(crate) fn wording(self, lang: Lang) -> (&'static str, &'static str) {
        match (self, lang) {
            (State::Paid, Lang::Es) => ("Pago recibido", "¡Gracias! Recibimos tu pago."),
            (State::Paid, Lang::En) => ("Payment received", "Thank you! We received your payment."),
            (State::Pending, Lang::Es) => (
                "Pago pendiente",
                "Tu pago aún no está confirmado: si ya pagaste, esta página se actualizará sola; si no, vuelve a revisar en unos minutos.",
            ),
            (State::Pending, Lang::En) => (
                "Payment pending",
                "Your payment is not confirmed yet: if you already paid, this page will update by itself; otherwise, check again in a few minutes.",
            ),
            (State::Rejected, Lang::Es) => (
                "Pago rechazado",
                "No se aprobó el pago y no se hizo ningún cargo. Puedes intentarlo de nuevo con otro medio de pago.",
            ),
            (State::Rejected, Lang::En) => (
                "Payment declined",
                "The payment was not approved and nothing was charged. You can try again with another payment method.",
            ),
            (State::Cancelled, Lang::Es) => (
                "Pago anulado",
                "Se anuló el pago antes de completarse y no se hizo ningún cargo.",
            ),
            (State::Cancelled, Lang::En) => (
                "Payment cancelled",
                "The payment was cancelled before it was completed and nothing was charged.",
            ),
            (State::Expired, Lang::Es) => (
                "Enlace de pago vencido",
                "Este enlace venció antes de que se pagara. Pide uno nuevo al comercio.",
            ),
            (State::Expired, Lang::En) => (
                "Payment link expired",
                "This link expired before it was paid. Ask the merchant for a new one.",
            ),
            (State::Failed, Lang::Es) => (
                "Pago no completado",
                "No se pudo completar el pago y no se hizo ningún cargo.",
            ),
            (State::Failed, Lang::En) => (
                "Payment not completed",
                "The payment could not be completed and nothing was charged.",
            ),
            (State::NotFound, Lang::Es) => (
                "Pago no encontrado",
                "No encontramos un pago para este enlace.",
            ),
            (State::NotFound, Lang::En) => (
                "Payment not found",
                "We could not find a payment for this link.",
            ),
            (State::Unavailable, Lang::Es) => (
                "Estado no disponible",
                "No pudimos revisar tu pago ahora. Vuelve a revisar en unos minutos.",
            ),
            (State::Unavailable, Lang::En) => (
                "Status unavailable",
                "We could not check your payment right now. Check again in a few minutes.",
            ),
        }
    }
}

/// Labels around the details.
fn labels(lang: Lang) -> (&'static str, &'static str, &'static str, &'static str) {
    // (amount, description, neutral merchant line, back link without a name)
    match lang {
        Lang::Es => ("Monto", "Detalle", "Pago en línea", "Volver al comercio"),
        Lang::En => (
            "Amount",
            "Description",
            "Online payment",
            "Back to the merchant",
        ),
    }
}

/// A whole page for `state`; `payment` adds the amount and description, `token` (the
/// gateway token the payer came with) lets a pending page reload itself.
pub(crate) fn render(
    lang: Lang,
    merchant: &Merchant,
    state: State,
    payment: Option<&Payment>,
    token: Option<&str>,
) -> String {
    let (title, sentence) = state.wording(lang);
    let (amount_label, description_label, neutral, back_plain) = labels(lang);
    let merchant_line = merchant.name.as_deref().unwrap_or(neutral);
    let mut body = format!(
        "<p class=\"merchant\" id=\"merchant\">{}</p>\n<h1 id=\"title\">{}</h1>\n<p id=\"message\">{}</p>\n",
        esc(merchant_line),
        esc(title),
        esc(sentence),
    );
    if let Some(p) = payment {
        body.push_str(&format!(
            "<dl>\n<dt>{amount_label}</dt><dd id=\"amount\" class=\"amount\">{}</dd>\n\
             <dt>{description_label}</dt><dd id=\"description\">{}</dd>\n</dl>\n",
            esc(&amount_for_payer(&p.amount, lang)),
            esc(&p.description),
        ));
    }
    if let Some(url) = &merchant.url {
        let text = match (&merchant.name, lang) {
            (Some(name), Lang::Es) => format!("Volver a {name}"),
            (Some(name), Lang::En) => format!("Back to {name}"),
            (None, _) => back_plain.to_string(),
        };
        body.push_str(&format!(
            "<a class=\"button primary\" id=\"back\" href=\"{}\">{}</a>\n",
            esc(url),
            esc(&text),
        ));
    }
    let refresh = match (state, token) {
        (State::Pending, Some(t)) => format!(
            "<meta http-equiv=\"refresh\" content=\"{PENDING_REFRESH_SECS};url=?token={}\">\n",
            esc(t)
        ),
        _ => String::new(),
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n{refresh}\
         <title>{t}</title>\n<style>{PAGE_CSS}</style>\n</head>\n\
         <body class=\"state-{key}\" data-state=\"{key}\">\n<main>\n{body}</main>\n</body>\n</html>\n",
        lang = lang.tag(),
        t = esc(title),
        key = state.key(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [State; 8] = [
        State::Paid,
        State::Pending,
        State::Rejected,
        State::Cancelled,
        State::Expired,
        State::Failed,
        State::NotFound,
        State::Unavailable,
    ];

    #[test]
    fn every_state_has_its_own_heading_in_each_language() {
        for lang in [Lang::Es, Lang::En] {
            let titles: std::collections::HashSet<_> =
                ALL.iter().map(|s| s.wording(lang).0).collect();
            assert_eq!(titles.len(), ALL.len(), "{lang:?}");
        }
    }

    #[test]
    fn without_merchant_settings_the_page_is_neutral_and_has_no_link() {
        let html = render(Lang::Es, &Merchant::default(), State::NotFound, None, None);
        assert!(html.contains("<html lang=\"es\">"), "{html}");
        assert!(html.contains(">Pago en línea<"), "{html}");
        assert!(!html.contains("<a "), "{html}");
    }

    #[test]
    fn the_merchant_is_named_and_linked_escaped() {
        let m = Merchant {
            name: Some("Sol & Luna <b>".into()),
            url: Some("https://sol.example/\"x".into()),
        };
        let html = render(Lang::En, &m, State::Pending, None, Some("TOK1"));
        assert!(html.contains("<html lang=\"en\">"), "{html}");
        assert!(html.contains(">Sol &amp; Luna &lt;b&gt;<"), "{html}");
        assert!(
            html.contains("href=\"https://sol.example/&quot;x\""),
            "{html}"
        );
        assert!(
            html.contains(">Back to Sol &amp; Luna &lt;b&gt;</a>"),
            "{html}"
        );
        assert!(html.contains("url=?token=TOK1"), "{html}");
    }
}
