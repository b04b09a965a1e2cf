//! Every operation of the API has a `canopy` command (issue 4): the table of the client module
//! names exactly the operations of the OpenAPI document, and each of its commands exists. Exit
//! codes of usage: help and version 0, a usage error 2.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use std::collections::BTreeSet;
use std::process::Command;

#[path = "../src/client/operations.rs"]
mod operations;

use operations::OPERATIONS;

fn canopy(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_canopy"))
        .args(args)
        .env("CANOPY_LANG", "en")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn the_table_names_exactly_the_operations_of_the_openapi_document() {
    let doc = canopy_server::openapi::document();
    let served: BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str().map(str::to_string))
        .collect();
    let table: BTreeSet<String> = OPERATIONS.iter().map(|(id, _)| id.to_string()).collect();
    assert_eq!(
        table.len(),
        OPERATIONS.len(),
        "an operation is listed twice"
    );
    let missing: Vec<_> = served.difference(&table).collect();
    let unknown: Vec<_> = table.difference(&served).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "operations without a command: {missing:?}; table entries that are no operation: {unknown:?}"
    );
    assert_eq!(served.len(), 81);
}

#[test]
fn every_command_of_the_table_exists_down_to_its_verb() {
    for (id, words) in OPERATIONS {
        let mut args: Vec<&str> = words.split(' ').collect();
        args.push("--help");
        let (code, out) = canopy(&args);
        assert_eq!(code, 0, "{id}: `canopy {words} --help`:\n{out}");
        let usage = out.lines().find(|l| l.starts_with("Usage:")).unwrap_or("");
        assert!(
            usage.starts_with(&format!("Usage: canopy {words}")) && !usage.contains("<COMMAND>"),
            "{id}: `canopy {words}` is not a whole command: {usage}"
        );
    }
}

#[test]
fn help_and_version_exit_0_and_usage_errors_exit_2() {
    for ok in [
        &["--help"][..],
        &["--version"],
        &["node", "--help"],
        &["help", "check"],
    ] {
        assert_eq!(canopy(ok).0, 0, "canopy {ok:?}");
    }
    for bad in [
        &["frobnicate"][..],
        &["check", "user:alice"],
        &["node"],
        &["user", "list", "--limit", "many"],
        &["org", "update", "--max-depth", "3"],
        &["who", "acme/eng"],
    ] {
        assert_eq!(canopy(bad).0, 2, "canopy {bad:?}");
    }
}

#[test]
fn an_unreachable_server_is_one_line_and_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_canopy"))
        .args(["health", "--server", "http://127.0.0.1:1"])
        .env("CANOPY_LANG", "en")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("canopy: cannot reach http://127.0.0.1:1"),
        "{stderr}"
    );
}
