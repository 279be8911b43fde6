//! The documentation's endpoint tables agree with the parser: every
//! example endpoint in the crate's grammar table (`src/endpoint/mod.rs`)
//! and in the README's table of mechanisms parses, and its scheme is the
//! one the row names.

use ipcx::Endpoint;

/// The code spans of the table rows in `text` (lines starting with `|`,
/// after `prefix` is stripped), by row: (first cell's spans, all spans).
fn rows(text: &str, prefix: &str) -> Vec<(String, Vec<String>)> {
    text.lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .map(str::trim_start)
        .filter(|l| l.starts_with('|') && !l.starts_with("|-") && !l.starts_with("|--"))
        .map(|l| {
            let spans: Vec<String> = l.split('`').skip(1).step_by(2).map(str::to_owned).collect();
            let first = l.split('|').nth(1).unwrap_or("").trim().to_owned();
            (first, spans)
        })
        .collect()
}

/// An example that names an endpoint (a scheme, a colon, and more or a
/// bare `pipe:`), with the README's table escapes (`\|`) undone.
fn examples(spans: &[String]) -> Vec<String> {
    spans
        .iter()
        .map(|s| s.replace("\\|", "|"))
        .filter(|s| {
            s.split_once(':')
                .is_some_and(|(scheme, _)| ipcx::Scheme::ALL.iter().any(|k| k.name() == scheme))
        })
        .collect()
}

#[test]
fn every_example_in_the_grammar_table_parses_as_its_row_says() {
    let source = include_str!("../src/endpoint/mod.rs");
    let mut checked = 0;
    for (first, spans) in rows(source, "//!") {
        let scheme = first.trim_matches('`');
        for ex in examples(&spans) {
            let ep: Endpoint = ex
                .parse()
                .unwrap_or_else(|e| panic!("the table's example `{ex}` does not parse: {e}"));
            assert_eq!(ep.scheme().name(), scheme, "`{ex}` is in the {scheme} row");
            checked += 1;
        }
    }
    assert!(
        checked >= 14,
        "only {checked} examples found: is the table still there?"
    );
}

#[test]
fn every_endpoint_in_the_readme_table_parses() {
    let readme = include_str!("../../../README.md");
    let mut checked = 0;
    for (_, spans) in rows(readme, "") {
        for ex in examples(&spans) {
            // Placeholders such as `pipe:N` stand for a number.
            let ex = ex.replace(":N", ":3");
            let parsed: Result<Endpoint, _> = ex.parse();
            assert!(
                parsed.is_ok(),
                "README's `{ex}` does not parse: {:?}",
                parsed.err()
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 10,
        "only {checked} endpoints found in the README's tables"
    );
}

/// The table of schemes is the one place a scheme is listed: each row of
/// it has a row in the crate's grammar table and in the README's.
#[test]
fn every_scheme_in_the_table_is_documented() {
    let grammar = rows(include_str!("../src/endpoint/mod.rs"), "//!");
    let readme = include_str!("../../../README.md");
    for row in ipcx::endpoint::TABLE_OF_SCHEMES {
        assert!(
            grammar
                .iter()
                .any(|(first, _)| first.trim_matches('`') == row.name),
            "{} has no row in the grammar table (src/endpoint/mod.rs)",
            row.name
        );
        assert!(
            readme.contains(&format!("| `{}:", row.name)),
            "{} has no row in the README's table of mechanisms",
            row.name
        );
    }
}

mod wire_md {
    #![allow(dead_code)]
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize)]
    pub struct Job {
        id: u64,
        tags: Vec<String>,
    }

    #[derive(Serialize, Deserialize)]
    pub enum Cmd {
        Stop,
        Go(u8, Box<Cmd>),
        At { x: i8 },
    }
}

/// docs/wire.md's table of identity texts is what `Identity` computes.
#[test]
fn the_identity_examples_in_wire_md_are_what_rust_declares() {
    use ipcx::Identity;
    let table: Vec<(String, Vec<String>)> = rows(include_str!("../../../docs/wire.md"), "")
        .into_iter()
        .filter(|(_, spans)| spans.len() == 2 && spans[1].contains('⏎'))
        .collect();
    let computed = [
        Identity::of::<u64>(),
        Identity::of::<String>(),
        Identity::of::<wire_md::Job>(),
        Identity::of::<Vec<wire_md::Job>>(),
        Identity::of::<wire_md::Cmd>(),
    ];
    assert_eq!(table.len(), computed.len(), "rows: {table:?}");
    for ((_, spans), identity) in table.iter().zip(&computed) {
        assert_eq!(
            spans[1].replace('⏎', "\n"),
            identity.text(),
            "row for `{}`",
            spans[0]
        );
    }
}
