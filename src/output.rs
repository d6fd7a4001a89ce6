//! The one printer: data goes to stdout in the format asked for (as az renders it),
//! after the `--query` JMESPath expression is applied.

use crate::cli::OutputFormat;
use crate::error::AppError;
use serde_json::Value;
use std::io::Write;

pub struct Printer {
    pub format: OutputFormat,
    query: Option<jmespath::Expression<'static>>,
}

impl Printer {
    /// Compiles the query up front so that a bad expression is a usage error before any
    /// network call.
    pub fn new(format: OutputFormat, query: Option<&str>) -> Result<Self, AppError> {
        let query = match query {
            Some(q) => Some(jmespath::compile(q).map_err(|e| {
                AppError::usage(format!(
                    "--query '{q}' is not a valid JMESPath expression: {e}"
                ))
                .hint("See https://jmespath.org for the syntax, e.g. --query accessToken.")
            })?),
            None => None,
        };
        Ok(Printer { format, query })
    }

    /// Prints `data` to stdout.
    pub fn print(&self, data: &Value) -> Result<(), AppError> {
        let data = self.apply_query(data)?;
        // jsonc is JSON in colour, as az prints it, when a person reads it on a terminal
        // (and NO_COLOR is not set); piped, it is plain JSON.
        use std::io::IsTerminal;
        let text = if self.format == OutputFormat::Jsonc
            && std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none()
        {
            colored_json(&data)
        } else {
            render(self.format, &data)
        };
        if text.is_empty() {
            return Ok(());
        }
        let mut out = std::io::stdout().lock();
        // A closed pipe (`| head`) is not an error worth reporting.
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        Ok(())
    }

    fn apply_query(&self, data: &Value) -> Result<Value, AppError> {
        let Some(expr) = &self.query else {
            return Ok(data.clone());
        };
        let variable = jmespath::Variable::from_serializable(data)
            .map_err(|e| AppError::new(crate::error::Kind::Failure, format!("--query: {e}")))?;
        let result = expr
            .search(variable)
            .map_err(|e| AppError::usage(format!("--query '{}' failed: {e}", expr.as_str())))?;
        serde_json::to_value(&*result)
            .map_err(|e| AppError::new(crate::error::Kind::Failure, format!("--query: {e}")))
    }
}

/// Renders a value in one of az's output formats; the result ends with a newline unless empty.
pub fn render(format: OutputFormat, data: &Value) -> String {
    match format {
        OutputFormat::None => String::new(),
        OutputFormat::Json | OutputFormat::Jsonc => {
            let mut s = serde_json::to_string_pretty(data).unwrap_or_default();
            s.push('\n');
            s
        }
        OutputFormat::Yaml => serde_norway::to_string(data).unwrap_or_default(),
        OutputFormat::Tsv => render_tsv(data),
        OutputFormat::Table => render_table(data),
    }
}

/// Pretty JSON with ANSI colours: keys blue, strings green, numbers, booleans and null cyan.
fn colored_json(data: &Value) -> String {
    fn walk(v: &Value, indent: usize, out: &mut String) {
        let pad = |n: usize| "  ".repeat(n);
        match v {
            Value::Object(map) if !map.is_empty() => {
                out.push_str("{\n");
                for (i, (k, val)) in map.iter().enumerate() {
                    out.push_str(&pad(indent + 1));
                    out.push_str(&format!("\x1b[34m{}\x1b[0m: ", Value::String(k.clone())));
                    walk(val, indent + 1, out);
                    out.push_str(if i + 1 < map.len() { ",\n" } else { "\n" });
                }
                out.push_str(&pad(indent));
                out.push('}');
            }
            Value::Array(items) if !items.is_empty() => {
                out.push_str("[\n");
                for (i, val) in items.iter().enumerate() {
                    out.push_str(&pad(indent + 1));
                    walk(val, indent + 1, out);
                    out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                out.push_str(&pad(indent));
                out.push(']');
            }
            Value::String(_) => out.push_str(&format!("\x1b[32m{v}\x1b[0m")),
            Value::Object(_) | Value::Array(_) => out.push_str(&v.to_string()),
            _ => out.push_str(&format!("\x1b[36m{v}\x1b[0m")),
        }
    }
    let mut out = String::new();
    walk(data, 0, &mut out);
    out.push('\n');
    out
}

/// az's tsv: one line per list item; an object's scalar values joined by tabs, in key
/// order; nested objects and lists inside an object are left out; null is empty.
fn render_tsv(data: &Value) -> String {
    let mut out = String::new();
    match data {
        Value::Array(items) => {
            for item in items {
                out.push_str(&tsv_line(item));
                out.push('\n');
            }
        }
        Value::Null => {}
        other => {
            out.push_str(&tsv_line(other));
            out.push('\n');
        }
    }
    out
}

fn tsv_line(value: &Value) -> String {
    match value {
        Value::Object(map) => map
            .values()
            .filter(|v| !v.is_object() && !v.is_array())
            .map(scalar_text)
            .collect::<Vec<_>>()
            .join("\t"),
        Value::Array(items) => items.iter().map(scalar_text).collect::<Vec<_>>().join("\t"),
        other => scalar_text(other),
    }
}

/// Scalars as az prints them: strings bare, booleans as Python's True/False.
fn scalar_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// A plain aligned table: the keys of the first object as headers, a dashed rule, rows.
fn render_table(data: &Value) -> String {
    let rows: Vec<&Value> = match data {
        Value::Array(items) => items.iter().collect(),
        Value::Null => return String::new(),
        other => vec![other],
    };
    let headers: Vec<String> = match rows.first() {
        Some(Value::Object(map)) => map
            .iter()
            .filter(|(_, v)| !v.is_object() && !v.is_array())
            .map(|(k, _)| k.clone())
            .collect(),
        Some(_) => vec!["Result".into()],
        None => return String::new(),
    };
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| match row {
            Value::Object(map) => headers
                .iter()
                .map(|h| map.get(h).map(scalar_text).unwrap_or_default())
                .collect(),
            other => vec![scalar_text(other)],
        })
        .collect();
    let titles: Vec<String> = headers.iter().map(|h| title_case(h)).collect();
    let widths: Vec<usize> = (0..titles.len())
        .map(|i| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([titles[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let line = |cols: &[String]| -> String {
        cols.iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    out.push_str(&line(&titles));
    out.push('\n');
    out.push_str(
        &widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  "),
    );
    out.push('\n');
    for row in &cells {
        out.push_str(&line(row));
        out.push('\n');
    }
    out
}

/// `loginServer` -> `LoginServer`, as az's table headers read.
fn title_case(key: &str) -> String {
    let mut chars = key.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token() -> Value {
        json!({"accessToken": "T", "loginServer": "r.azurecr.io", "refreshToken": "T", "username": "00000000-0000-0000-0000-000000000000"})
    }

    #[test]
    fn tsv_of_object_is_tab_separated_values_in_key_order() {
        assert_eq!(
            render(OutputFormat::Tsv, &token()),
            "T\tr.azurecr.io\tT\t00000000-0000-0000-0000-000000000000\n"
        );
    }

    #[test]
    fn tsv_of_string_is_the_bare_string() {
        assert_eq!(render(OutputFormat::Tsv, &json!("abc")), "abc\n");
        assert_eq!(render(OutputFormat::Tsv, &json!(true)), "True\n");
    }

    #[test]
    fn query_picks_a_field() {
        let p = Printer::new(OutputFormat::Tsv, Some("accessToken")).unwrap();
        assert_eq!(p.apply_query(&token()).unwrap(), json!("T"));
        let p = Printer::new(OutputFormat::Json, Some("[].loginServer")).unwrap();
        assert_eq!(
            p.apply_query(&json!([token(), token()])).unwrap(),
            json!(["r.azurecr.io", "r.azurecr.io"])
        );
    }

    #[test]
    fn bad_query_is_a_usage_error() {
        let err = Printer::new(OutputFormat::Json, Some("[[")).err().unwrap();
        assert_eq!(err.kind, crate::error::Kind::Usage);
    }

    #[test]
    fn table_has_headers_rule_and_rows() {
        let out = render(
            OutputFormat::Table,
            &json!([{"loginServer": "a", "ok": true}]),
        );
        assert_eq!(
            out,
            "LoginServer  Ok\n-----------  ----\na            True\n"
        );
    }

    #[test]
    fn colored_json_is_json_once_the_colours_are_gone() {
        let v = json!({"a": [1, "x", true, null, {}], "b": {"c": "d"}});
        let plain = colored_json(&v)
            .replace("\x1b[34m", "")
            .replace("\x1b[32m", "")
            .replace("\x1b[36m", "")
            .replace("\x1b[0m", "");
        assert_eq!(plain, render(OutputFormat::Json, &v));
    }

    #[test]
    fn yaml_and_none() {
        assert_eq!(render(OutputFormat::Yaml, &json!({"a": 1})), "a: 1\n");
        assert_eq!(render(OutputFormat::None, &token()), "");
    }
}
