//! `tools/manifests/*.json` are generated from the catalog; this test fails when they
//! drift. Regenerate with `UPDATE_MANIFESTS=1 cargo test -p paylink-tools --test manifests`.

use std::path::PathBuf;

use paylink_tools::{NameStyle, catalog, manifest};

#[test]
fn manifests_match_the_catalog() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("manifests");
    let update = std::env::var_os("UPDATE_MANIFESTS").is_some();
    for spec in catalog() {
        let file = dir.join(format!("{}.json", spec.dotted));
        let want =
            serde_json::to_string_pretty(&manifest(&spec, NameStyle::Dotted)).unwrap() + "\n";
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&file, &want).unwrap();
            continue;
        }
        let have = std::fs::read_to_string(&file).unwrap_or_else(|_| {
            panic!("{} is missing; run with UPDATE_MANIFESTS=1", file.display())
        });
        assert_eq!(
            have,
            want,
            "{} drifted from the catalog; run with UPDATE_MANIFESTS=1",
            file.display()
        );
    }
}

#[test]
fn every_schema_is_an_object_and_every_annotation_is_explicit() {
    for spec in catalog() {
        assert_eq!(spec.input_schema["type"], "object", "{}", spec.dotted);
        assert_eq!(spec.output_schema["type"], "object", "{}", spec.dotted);
        let m = manifest(&spec, NameStyle::Snake);
        for hint in [
            "readOnlyHint",
            "destructiveHint",
            "idempotentHint",
            "openWorldHint",
        ] {
            assert!(
                m["annotations"][hint].is_boolean(),
                "{} {hint}",
                spec.dotted
            );
        }
        assert!(
            spec.snake
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_')
        );
    }
}

#[test]
fn the_create_schema_documents_units_and_retries_for_a_model() {
    let create = &catalog()[0];
    let props = &create.input_schema["properties"];
    assert_eq!(props["amount"]["type"], "number");
    let amount_doc = props["amount"]["description"].as_str().unwrap();
    assert!(amount_doc.contains("CLP 5.000") && amount_doc.contains("no decimals"));
    assert!(
        props["idempotencyKey"]["description"]
            .as_str()
            .unwrap()
            .contains("same key")
    );
    let required: Vec<&str> = create.input_schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(required, ["amount", "description", "customerEmail"]);
}

#[test]
fn the_readme_documents_every_tool_and_every_argument() {
    let readme = include_str!("../../README.md");
    let tools = readme
        .split("## The tools")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README.md has a ## The tools section");
    for spec in catalog() {
        let heading = format!("### `{}` (`{}`)", spec.dotted, spec.snake);
        let section = tools
            .split(&heading)
            .nth(1)
            .unwrap_or_else(|| panic!("README.md has no {heading} section"))
            .split("\n### ")
            .next()
            .unwrap();
        let props = spec.input_schema["properties"].as_object().unwrap();
        for name in props.keys() {
            assert!(
                section.contains(&format!("`{name}`")),
                "README.md's {heading} section does not mention `{name}`"
            );
        }
    }
}
