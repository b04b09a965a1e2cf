//! Printing answers: aligned tables for a person (widths counted in terminal columns, so that
//! Japanese names line up), or the JSON as the server sent it.

use canopy_api::{Diff, DryRun};
use canopy_core::messages::Lang;
use serde_json::Value;
use unicode_width::UnicodeWidthStr;

use crate::messages;

/// Rows under headers, printed with aligned columns.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these headers.
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (cells beyond the headers are dropped, missing ones are empty).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as lines, columns separated by two spaces, no trailing blanks.
    pub fn render(&self) -> String {
        let n = self.headers.len();
        let cell = |row: &[String], i: usize| row.get(i).cloned().unwrap_or_default();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.width()).collect();
        for row in &self.rows {
            for (i, w) in widths.iter_mut().enumerate() {
                *w = (*w).max(cell(row, i).width());
            }
        }
        let line = |row: &[String]| {
            let mut out = String::new();
            for (i, width) in widths.iter().enumerate() {
                let c = cell(row, i);
                out.push_str(&c);
                if i + 1 < n {
                    out.push_str(&" ".repeat(width - c.width() + 2));
                }
            }
            out.trim_end().to_string()
        };
        let mut out = line(&self.headers);
        for row in &self.rows {
            out.push('\n');
            out.push_str(&line(row));
        }
        out
    }

    /// Prints the table on stdout.
    pub fn print(&self) {
        out!("{}", self.render());
    }
}

/// Prints JSON, pretty.
pub fn json(v: &Value) {
    match serde_json::to_string_pretty(v) {
        Ok(text) => out!("{text}"),
        Err(_) => out!("{v}"),
    }
}

/// A value as a table cell: strings as they are, lists of strings joined, anything nested as
/// compact JSON, nothing as `-`.
pub fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) if items.is_empty() => "-".into(),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => other.to_string(),
    }
}

/// The fields of one object, one row each.
pub fn fields(v: &Value) -> Table {
    let mut t = Table::new(&["FIELD", "VALUE"]);
    match v {
        Value::Object(o) => {
            for (k, value) in o {
                t.row(vec![k.clone(), cell(Some(value))]);
            }
        }
        other => t.row(vec![String::new(), cell(Some(other))]),
    }
    t
}

/// Items as rows, one column per `(header, JSON pointer)`.
pub fn columns(items: &[Value], columns: &[(&str, &str)]) -> Table {
    let headers: Vec<&str> = columns.iter().map(|(h, _)| *h).collect();
    let mut t = Table::new(&headers);
    for item in items {
        t.row(
            columns
                .iter()
                .map(|(_, pointer)| cell(item.pointer(pointer)))
                .collect(),
        );
    }
    t
}

/// After one page of a listing: where the next one starts (on stderr, to keep stdout a table).
pub fn next_cursor(page: &Value, lang: Lang) {
    if let Some(c) = page["next_cursor"].as_str() {
        err!("{}", messages::next_page(c, lang));
    }
}

/// An access diff, one row per gained or lost grant.
pub fn diff(d: &Diff, lang: Lang) {
    if d.gained.is_empty() && d.lost.is_empty() {
        out!("{}", messages::no_access_change(lang));
        return;
    }
    let mut t = Table::new(&[
        "CHANGE",
        "SUBJECT",
        "ACTION",
        "TARGET",
        "SUBTREE",
        "CONDITIONS",
        "UNLESS",
    ]);
    let rows = d
        .gained
        .iter()
        .map(|e| ("gained", e))
        .chain(d.lost.iter().map(|e| ("lost", e)));
    for (change, e) in rows {
        t.row(vec![
            change.into(),
            e.subject_ref.clone(),
            e.action.clone(),
            e.target.path.clone(),
            if e.subtree { "yes" } else { "no" }.into(),
            conditions(&e.conditions),
            conditions(&e.unless),
        ]);
    }
    t.print();
}

/// The answer to a dry run: that nothing changed, and the diff.
pub fn dry_run(v: &Value, lang: Lang) {
    match serde_json::from_value::<DryRun>(v.clone()) {
        Ok(d) => {
            out!("{}", messages::dry_run(d.revision, lang));
            diff(&d.diff, lang);
        }
        Err(_) => json(v),
    }
}

/// Conditions as a cell (`-` when unconditional).
pub fn conditions<T: serde::Serialize>(c: &[T]) -> String {
    if c.is_empty() {
        return "-".into();
    }
    serde_json::to_string(c).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_in_terminal_columns() {
        let mut t = Table::new(&["NAME", "KIND"]);
        t.row(vec!["総務部".into(), "folder".into()]);
        t.row(vec!["eng".into(), "project".into()]);
        assert_eq!(t.render(), "NAME    KIND\n総務部  folder\neng     project");
    }

    #[test]
    fn cells() {
        assert_eq!(cell(None), "-");
        assert_eq!(cell(Some(&serde_json::json!(["a", "b"]))), "a, b");
        assert_eq!(cell(Some(&serde_json::json!(3))), "3");
        assert_eq!(
            cell(Some(&serde_json::json!({"mfa": true}))),
            r#"{"mfa":true}"#
        );
    }
}
