//! `paylink tools`: the JSON manifests of the tools, as agents see them.

use std::io::Write;

use paylink_tools::NameStyle;

pub fn run(style: NameStyle, out: &mut dyn Write) -> anyhow::Result<()> {
    let all: Vec<_> = paylink_tools::catalog()
        .iter()
        .map(|t| paylink_tools::manifest(t, style))
        .collect();
    writeln!(out, "{}", serde_json::to_string_pretty(&all)?)?;
    Ok(())
}
