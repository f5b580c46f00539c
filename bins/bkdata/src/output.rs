//! Printing answers: JSON as received, or a table for people.
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Display width: CJK and other wide characters take two columns.
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| if (c as u32) >= 0x1100 { 2 } else { 1 })
        .sum()
}

fn pad(s: &str, w: usize) -> String {
    let mut out = s.to_string();
    out.extend(std::iter::repeat_n(' ', w.saturating_sub(width(s))));
    out
}

/// Rows under headers, columns as wide as their widest cell (cut at 60).
pub fn table(headers: &[String], rows: &[Vec<String>]) -> String {
    let cut = |s: &str| -> String {
        if width(s) <= 60 {
            s.to_string()
        } else {
            let mut t: String = s.chars().take(57).collect();
            t.push_str("...");
            t
        }
    };
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| cut(&c.replace('\n', " "))).collect())
        .collect();
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| width(c)))
                .chain([width(h)])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| pad(c, *w))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(headers)];
    out.push(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  "),
    );
    out.extend(rows.iter().map(|r| line(r)));
    out.join("\n")
}

/// A list of objects as a table (columns in first-seen order, or `order`), an object as
/// key/value lines, anything else as JSON.
pub fn render(v: &Value, order: Option<&[String]>) -> String {
    match v {
        Value::Array(items) if items.iter().all(Value::is_object) && !items.is_empty() => {
            let mut cols: Vec<String> = order.map(<[String]>::to_vec).unwrap_or_default();
            if cols.is_empty() {
                for it in items {
                    for k in it.as_object().into_iter().flat_map(|m| m.keys()) {
                        if !cols.contains(k) {
                            cols.push(k.clone());
                        }
                    }
                }
            }
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|it| cols.iter().map(|c| cell(&it[c])).collect())
                .collect();
            table(&cols, &rows)
        }
        Value::Object(m) => {
            let w = m.keys().map(|k| width(k)).max().unwrap_or(0);
            m.iter()
                .map(|(k, v)| format!("{}  {}", pad(k, w), cell(v)))
                .collect::<Vec<_>>()
                .join("\n")
        }
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

pub fn print(format: Format, v: &Value) {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(v).unwrap_or_default()),
        Format::Table => println!("{}", render(v, None)),
    }
}

/// A flow's graph drawn as text: each node with its status, then its inputs.
pub fn graph(g: &Value) -> String {
    let nodes = g["nodes"].as_array().cloned().unwrap_or_default();
    let name_of = |id: &Value| {
        nodes
            .iter()
            .find(|n| n["node_id"] == *id)
            .map(|n| format!("#{} {}", n["node_id"], cell(&n["node_name"])))
            .unwrap_or_else(|| format!("#{id}"))
    };
    let mut out = vec![format!(
        "flow {} ({}), version {}",
        g["flow_id"],
        cell(&g["status"]),
        cell(&g["version"])
    )];
    for n in &nodes {
        let mut line = format!(
            "[{}] #{} {} ({}) → {}",
            cell(&n["status"]),
            n["node_id"],
            cell(&n["node_name"]),
            cell(&n["node_type"]),
            n["result_table_ids"][0].as_str().unwrap_or("")
        );
        if n["has_modify"] == true {
            line.push_str("  *modified, restart to apply*");
        }
        out.push(line);
        let inputs: Vec<String> = g["links"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|l| l["to_node_id"] == n["node_id"])
            .map(|l| name_of(&l["from_node_id"]))
            .collect();
        if !inputs.is_empty() {
            out.push(format!("      ↑ from {}", inputs.join(", ")));
        }
        let rt = &n["runtime"];
        if rt.is_object() {
            out.push(format!(
                "      rows in {}, out {}, late {}, bad {}, windows {}",
                rt["rows_in"], rt["rows_out"], rt["late_rows"], rt["bad_rows"], rt["windows"]
            ));
        }
    }
    out.join("\n")
}

/// A task's steps in the seed's order as a progress bar: `[##>-] 2/4  ddl_generation ✓ …`.
pub fn steps_progress(status: &str, steps: &std::collections::BTreeMap<String, String>) -> String {
    let order = bkdata_api::pipeline::STEP_ORDER;
    let done = |s: &str| matches!(s, "completed" | "skipped");
    let finished = order
        .iter()
        .filter(|k| steps.get(**k).is_some_and(|s| done(s)))
        .count();
    let bar: String = order
        .iter()
        .map(|k| match steps.get(*k).map(String::as_str) {
            Some(s) if done(s) => '#',
            Some("running") => '>',
            Some("failed" | "cancelled") => 'x',
            _ => '-',
        })
        .collect();
    let detail: Vec<String> = order
        .iter()
        .map(|k| {
            let s = steps.get(*k).map_or("pending", String::as_str);
            let mark = match s {
                "completed" => "✓",
                "skipped" => "(skipped)",
                "running" => "…",
                "failed" => "✗",
                other => other,
            };
            format!("{k} {mark}")
        })
        .collect();
    format!(
        "[{bar}] {finished}/{}  {status}  {}",
        order.len(),
        detail.join("  ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn step_progress_follows_the_seed_order() {
        let steps: std::collections::BTreeMap<String, String> = [
            ("training_load", "pending"),
            ("ddl_generation", "completed"),
            ("qa_generation", "running"),
            ("sql_validation", "skipped"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(
            steps_progress("in_progress", &steps),
            "[#>#-] 2/4  in_progress  ddl_generation ✓  qa_generation …  sql_validation (skipped)  training_load pending"
        );
    }

    #[test]
    fn tables_line_up_wide_characters() {
        let order = ["name".to_string(), "n".to_string()];
        let t = render(
            &json!([{"name": "数据源", "n": 1}, {"name": "ab", "n": 22}]),
            Some(&order),
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "name    n");
        assert_eq!(lines[2], "数据源  1");
        assert_eq!(lines[3], "ab      22");
    }
}
