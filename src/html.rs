//! HTML for the few pages payers see (the return page and the sandbox's pay page): every
//! value that came from a request or from a gateway goes through [`escape`], and both pages
//! share one small stylesheet, [`PAGE_CSS`].

/// The payer pages' stylesheet, inlined in a `<style>` element: system fonts only, no
/// remote assets, one centred card that fits a 390 px-wide phone and long words that wrap
/// instead of overflowing.
pub const PAGE_CSS: &str = "\
*,*::before,*::after{box-sizing:border-box}\
html{-webkit-text-size-adjust:100%}\
body{margin:0;padding:24px 16px;min-height:100vh;background:#f3f4f6;color:#111827;\
font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif}\
main{max-width:28rem;margin:0 auto;background:#fff;border-radius:12px;padding:24px;\
box-shadow:0 1px 3px rgba(0,0,0,.08),0 4px 16px rgba(0,0,0,.06);overflow-wrap:anywhere}\
.merchant{margin:0 0 16px;color:#4b5563;font-size:.95rem;font-weight:600}\
h1{margin:0 0 8px;font-size:1.5rem;line-height:1.25}\
p{margin:0 0 16px}\
dl{margin:0 0 16px;display:grid;grid-template-columns:auto 1fr;gap:4px 16px}\
dt{color:#6b7280}dd{margin:0;min-width:0}\
.amount{font-size:1.75rem;font-weight:700;margin:0 0 16px}\
.state-paid h1{color:#047857}.state-pending h1{color:#b45309}\
.state-rejected h1,.state-cancelled h1,.state-expired h1,.state-failed h1{color:#b91c1c}\
form{margin:0}\
.button,button{display:block;width:100%;margin:8px 0 0;padding:12px 16px;border:1px solid #d1d5db;\
border-radius:8px;background:#fff;color:#111827;font:inherit;font-weight:600;text-align:center;\
text-decoration:none;cursor:pointer}\
.button.primary,button.primary{background:#1d4ed8;border-color:#1d4ed8;color:#fff}\
";

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn markup_and_quotes_are_escaped() {
        assert_eq!(
            super::escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
