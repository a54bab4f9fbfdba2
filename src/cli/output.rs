//! How the operator's commands print: aligned tables (comfy-table) whose columns grow to
//! their longest value, amounts and times for people, colour only on a terminal, and
//! `--json` with RFC 3339 times.
//!
//! Colour is decided once per process by [`init_color`] (anstream's rules: stdout is a
//! terminal, `NO_COLOR` unset, `TERM` not `dumb`; `CLICOLOR_FORCE` forces it). Library
//! callers that never call it, such as tests writing into a `Vec`, get plain text.

use std::sync::atomic::{AtomicBool, Ordering};

use anstyle::{AnsiColor, Style};
use comfy_table::{Table, presets};
use serde_json::Value;

use crate::domain::{PaymentStatus, Timestamp};

static COLOR: AtomicBool = AtomicBool::new(false);

/// Decides, from the process's stdout and environment, whether output is coloured.
pub fn init_color() {
    let choice = anstream::AutoStream::choice(&std::io::stdout());
    COLOR.store(choice != anstream::ColorChoice::Never, Ordering::Relaxed);
}

/// Whether [`paint`] colours.
pub fn color() -> bool {
    COLOR.load(Ordering::Relaxed)
}

/// `text` in `style` when colour is on, else `text` as it is.
pub fn paint(style: Style, text: &str) -> String {
    if color() {
        format!("{style}{text}{style:#}")
    } else {
        text.to_string()
    }
}

pub const HEADER: Style = Style::new().bold();
pub const GOOD: Style = AnsiColor::Green.on_default();
pub const BAD: Style = AnsiColor::Red.on_default().bold();
pub const WAITING: Style = AnsiColor::Yellow.on_default();
pub const DIM: Style = Style::new().dimmed();

/// The colour of a payment status.
pub fn status_style(s: PaymentStatus) -> Style {
    match s {
        PaymentStatus::Paid => GOOD,
        PaymentStatus::Failed => BAD,
        PaymentStatus::Pending => WAITING,
        PaymentStatus::Draft => DIM,
    }
}

/// A borderless table with these column headers, two spaces between columns.
pub fn table(headers: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING);
    t.set_header(headers.iter().copied());
    for column in t.column_iter_mut() {
        column.set_padding((0, 2));
    }
    t
}

/// The table's lines, without trailing blanks; the header line bold on a terminal.
/// Cells must be single-line text (stored text goes through [`super::shown`] first).
pub fn render(t: &Table) -> String {
    let mut out = String::new();
    for (i, line) in t.lines().enumerate() {
        let line = line.trim_end();
        if i == 0 {
            out.push_str(&paint(HEADER, line));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// `2026-12-02 10:00 UTC`: a time as a person reads it in a table.
pub fn when(t: Timestamp) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.0) * 1_000_000)
        .ok()
        .and_then(|d| d.format(&format).ok())
        .unwrap_or_else(|| t.0.to_string())
}

/// At most `max` characters of `s`, with `…` where it was cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut cut: String = s.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// The fields of the ledger's records that hold a [`Timestamp`] (milliseconds since the
/// epoch in the ledger and on the owner's socket).
const TIME_FIELDS: [&str; 8] = [
    "createdAt",
    "updatedAt",
    "paidAt",
    "expiresAt",
    "nextCheckAt",
    "at",
    "receivedAt",
    "decidedAt",
];

/// `value` as `--json` prints it: every time field that holds epoch milliseconds becomes
/// an RFC 3339 string (`2026-12-02T10:00:00Z`), at any depth. Only `--json` output is
/// changed; the ledger keeps its format.
pub fn json_times(mut value: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, field) in map.iter_mut() {
                    if TIME_FIELDS.contains(&k.as_str())
                        && let Some(ms) = field.as_i64()
                    {
                        *field = Value::String(Timestamp(ms).rfc3339());
                    } else {
                        walk(field);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut value);
    value
}

/// `value` as pretty JSON with RFC 3339 times ([`json_times`]).
pub fn to_json(value: &impl serde::Serialize) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(&json_times(
        serde_json::to_value(value)?,
    ))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_utc_minutes() {
        // 2026-12-02T10:00:00Z
        assert_eq!(when(Timestamp(1_796_205_600_000)), "2026-12-02 10:00 UTC");
    }

    #[test]
    fn json_times_become_rfc3339_at_any_depth_and_nothing_else_changes() {
        let v = json_times(serde_json::json!({
            "payment": {"createdAt": 1_796_205_600_000_i64, "paidAt": null, "amount": 5000},
            "events": [{"at": 1_796_205_600_123_i64, "seq": 1}],
        }));
        assert_eq!(v["payment"]["createdAt"], "2026-12-02T10:00:00Z");
        assert_eq!(v["payment"]["paidAt"], Value::Null);
        assert_eq!(v["payment"]["amount"], 5000);
        assert_eq!(v["events"][0]["at"], "2026-12-02T10:00:00.123Z");
        assert_eq!(v["events"][0]["seq"], 1);
    }

    #[test]
    fn tables_align_long_values_and_are_plain_without_colour() {
        let mut t = table(&["ID", "AMOUNT"]);
        t.add_row(["ent_1", "CLP 5.000"]);
        t.add_row(["ent_a_much_longer_identifier", "CLP 15.990"]);
        let text = render(&t);
        let lines: Vec<&str> = text.lines().collect();
        let col = lines[0].find("AMOUNT").unwrap();
        assert_eq!(lines[1].find("CLP").unwrap(), col, "{text}");
        assert_eq!(lines[2].find("CLP").unwrap(), col, "{text}");
        assert!(!text.contains('\x1b'), "{text:?}");
    }

    #[test]
    fn clip_marks_the_cut() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }
}
