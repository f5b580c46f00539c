//! `qa_generation`: question-SQL pairs (`qs_{db_name}_{timestamp}_pair.json`, `[{question,
//! sql}]`) from the catalog `ddl_generation` read. Without a language model they come from
//! the schema itself: counts, sums and averages of numeric columns, group-bys over enum-like
//! columns, time-range filters over date columns and joins along foreign keys, phrased in
//! Chinese or English by the language of `business_context`.
use crate::catalog::{ident, label_t, literal, ColumnInfo, Kind, TableInfo};
use crate::ddl::{load_catalog, render_ddl, Catalog, Params};
use crate::llm::{json_in, Llm};
use bkdata_pipeline::{Step, StepContext, StepError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Pair {
    pub question: String,
    pub sql: String,
}

/// At most this many pairs a table from the schema generator.
const PER_TABLE: usize = 16;

const RESERVED: &[&str] = &[
    "all",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "both",
    "case",
    "cast",
    "check",
    "column",
    "constraint",
    "create",
    "current_date",
    "current_time",
    "current_user",
    "default",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "for",
    "foreign",
    "from",
    "grant",
    "group",
    "having",
    "in",
    "into",
    "is",
    "join",
    "leading",
    "limit",
    "not",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "primary",
    "references",
    "select",
    "table",
    "then",
    "to",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "when",
    "where",
    "window",
    "with",
];

/// An identifier as written in generated SQL: bare when it can be, quoted otherwise.
pub fn name(s: &str) -> String {
    let plain = s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !RESERVED.contains(&s);
    if plain {
        s.to_string()
    } else {
        ident(s)
    }
}

fn table_sql(t: &TableInfo) -> String {
    format!("{}.{}", name(&t.schema), name(&t.name))
}

fn label_c(c: &ColumnInfo) -> String {
    c.comment
        .as_deref()
        .map(|x| {
            x.split(['，', ',', '。', '(', '（'])
                .next()
                .unwrap_or(x)
                .trim()
                .to_string()
        })
        .filter(|x| !x.is_empty())
        .unwrap_or_else(|| c.name.clone())
}

fn is_key(t: &TableInfo, c: &ColumnInfo) -> bool {
    t.primary_key.contains(&c.name)
        || t.foreign_keys.iter().any(|f| f.columns.contains(&c.name))
        || c.name == "id"
        || c.name.ends_with("_id")
}

/// The column that names a row (for group-bys and joins): a text column called like a name.
fn name_column(t: &TableInfo) -> Option<&ColumnInfo> {
    let texts: Vec<&ColumnInfo> = t
        .columns
        .iter()
        .filter(|c| c.kind == Kind::Text && !is_key(t, c) && c.enum_values.is_none())
        .collect();
    texts
        .iter()
        .find(|c| c.name.contains("name"))
        .or_else(|| texts.first())
        .copied()
}

/// Pairs for one table, from its catalog (and the others', for joins).
pub fn table_pairs(t: &TableInfo, all: &[TableInfo], zh: bool) -> Vec<Pair> {
    let mut out = Vec::new();
    let tl = label_t(t);
    let ts = table_sql(t);
    let mut push = |q: String, sql: String| out.push(Pair { question: q, sql });
    push(
        if zh {
            format!("{tl}共有多少条记录？")
        } else {
            format!("How many records are there in {tl}?")
        },
        format!("SELECT COUNT(*) AS total FROM {ts};"),
    );
    // Measures first: totals and amounts are what people sum.
    let mut numerics: Vec<&ColumnInfo> = t
        .columns
        .iter()
        .filter(|c| c.kind == Kind::Numeric && !is_key(t, c) && c.enum_values.is_none())
        .collect();
    let measure = |c: &ColumnInfo| {
        let text = format!("{} {}", c.name, c.comment.as_deref().unwrap_or(""));
        ["sum", "total", "amount", "count", "总", "金额", "数量"]
            .iter()
            .any(|k| text.contains(k))
    };
    numerics.sort_by_key(|c| !measure(c));
    numerics.truncate(3);
    let enums: Vec<&ColumnInfo> = t
        .columns
        .iter()
        .filter(|c| c.enum_values.is_some())
        .take(2)
        .collect();
    let date = t
        .columns
        .iter()
        .find(|c| matches!(c.kind, Kind::Date | Kind::Timestamp) && c.max.is_some());
    for c in numerics.iter().take(2) {
        let (cl, cn) = (label_c(c), name(&c.name));
        push(
            if zh {
                format!("{tl}中{cl}的总和是多少？")
            } else {
                format!("What is the total {cl} in {tl}?")
            },
            format!(
                "SELECT SUM({cn}) AS total_{} FROM {ts};",
                c.name.to_lowercase()
            ),
        );
        push(
            if zh {
                format!("{tl}中{cl}的平均值是多少？")
            } else {
                format!("What is the average {cl} in {tl}?")
            },
            format!(
                "SELECT AVG({cn}) AS avg_{} FROM {ts};",
                c.name.to_lowercase()
            ),
        );
    }
    for e in &enums {
        let (el, en) = (label_c(e), name(&e.name));
        push(
            if zh {
                format!("按{el}统计{tl}的记录数")
            } else {
                format!("How many records of {tl} are there for each {el}?")
            },
            format!("SELECT {en}, COUNT(*) AS cnt FROM {ts} GROUP BY {en} ORDER BY cnt DESC;"),
        );
        if let Some(v) = e.enum_values.as_ref().and_then(|v| v.first()) {
            let value = if e.kind == Kind::Bool {
                v.clone()
            } else {
                literal(v)
            };
            push(
                if zh {
                    format!("{el}为“{v}”的{tl}有多少条？")
                } else {
                    format!("How many records of {tl} have {el} equal to '{v}'?")
                },
                format!("SELECT COUNT(*) AS cnt FROM {ts} WHERE {en} = {value};"),
            );
        }
        if let Some(n) = numerics.first() {
            let (nl, nn) = (label_c(n), name(&n.name));
            push(
                if zh {
                    format!("各{el}的{nl}合计分别是多少？")
                } else {
                    format!("What is the total {nl} for each {el} in {tl}?")
                },
                format!(
                    "SELECT {en}, SUM({nn}) AS total FROM {ts} GROUP BY {en} ORDER BY total DESC;"
                ),
            );
        }
    }
    if let Some(d) = date {
        let (dl, dn) = (label_c(d), name(&d.name));
        let max = d.max.clone().unwrap_or_default();
        let end_day = max.get(..10).unwrap_or(&max).to_string();
        if let Ok(end) = chrono::NaiveDate::parse_from_str(&end_day, "%Y-%m-%d") {
            let start = (end - chrono::Duration::days(6))
                .format("%Y-%m-%d")
                .to_string();
            let range = if d.kind == Kind::Date {
                format!("{dn} BETWEEN DATE '{start}' AND DATE '{end_day}'")
            } else {
                format!(
                    "{dn} >= TIMESTAMP '{start} 00:00:00' AND {dn} < TIMESTAMP '{end_day} 00:00:00' + INTERVAL '1 day'"
                )
            };
            push(
                if zh {
                    format!("{start}至{end_day}期间{tl}有多少条记录？")
                } else {
                    format!("How many records of {tl} are there from {start} to {end_day}?")
                },
                format!("SELECT COUNT(*) AS cnt FROM {ts} WHERE {range};"),
            );
            if let Some(n) = numerics.first() {
                let (nl, nn) = (label_c(n), name(&n.name));
                let day = if d.kind == Kind::Date {
                    dn.clone()
                } else {
                    format!("CAST({dn} AS DATE)")
                };
                push(
                    if zh {
                        format!("{start}至{end_day}每天的{nl}合计是多少？")
                    } else {
                        format!("What is the daily total {nl} of {tl} from {start} to {end_day}?")
                    },
                    format!(
                        "SELECT {day} AS day, SUM({nn}) AS total FROM {ts} WHERE {range} GROUP BY {day} ORDER BY day;"
                    ),
                );
            }
            push(
                if zh {
                    format!("{tl}中{dl}最早和最晚分别是什么时候？")
                } else {
                    format!("What are the earliest and latest {dl} in {tl}?")
                },
                format!("SELECT MIN({dn}) AS earliest, MAX({dn}) AS latest FROM {ts};"),
            );
        }
    }
    if let (Some(nc), Some(n)) = (name_column(t), numerics.first()) {
        let (ll, ln, nl, nn) = (label_c(nc), name(&nc.name), label_c(n), name(&n.name));
        push(
            if zh {
                format!("{nl}合计最高的前10个{ll}是哪些？")
            } else {
                format!("Which 10 {ll} have the highest total {nl}?")
            },
            format!(
                "SELECT {ln}, SUM({nn}) AS total FROM {ts} GROUP BY {ln} ORDER BY total DESC LIMIT 10;"
            ),
        );
    }
    for f in &t.foreign_keys {
        let Some(parent) = all
            .iter()
            .find(|p| p.schema == f.ref_schema && p.name == f.ref_table)
        else {
            continue;
        };
        let Some(pn) = name_column(parent) else {
            continue;
        };
        let on: Vec<String> = f
            .columns
            .iter()
            .zip(&f.ref_columns)
            .map(|(c, r)| format!("c.{} = p.{}", name(c), name(r)))
            .collect();
        let (pl, pnn) = (label_c(pn), name(&pn.name));
        push(
            if zh {
                format!("每个{pl}对应的{tl}数量是多少？")
            } else {
                format!("How many {tl} records does each {pl} have?")
            },
            format!(
                "SELECT p.{pnn}, COUNT(*) AS cnt FROM {ts} c JOIN {} p ON {} GROUP BY p.{pnn} ORDER BY cnt DESC;",
                table_sql(parent),
                on.join(" AND ")
            ),
        );
        if let Some(n) = numerics.first() {
            let (nl, nn) = (label_c(n), name(&n.name));
            push(
                if zh {
                    format!("按{pl}汇总{tl}的{nl}")
                } else {
                    format!("What is the total {nl} of {tl} by {pl}?")
                },
                format!(
                    "SELECT p.{pnn}, SUM(c.{nn}) AS total FROM {ts} c JOIN {} p ON {} GROUP BY p.{pnn} ORDER BY total DESC;",
                    table_sql(parent),
                    on.join(" AND ")
                ),
            );
        }
    }
    out.truncate(PER_TABLE);
    out
}

/// Pairs for the whole catalog, questions unique.
pub fn schema_pairs(catalog: &Catalog, zh: bool) -> Vec<Pair> {
    let mut out: Vec<Pair> = Vec::new();
    for t in &catalog.tables {
        for p in table_pairs(t, &catalog.tables, zh) {
            if !out.iter().any(|o| o.question == p.question) {
                out.push(p);
            }
        }
    }
    out
}

/// Pairs from the language model, a few per table; `Err` says why none came.
fn llm_pairs(llm: &Llm, catalog: &Catalog, zh: bool) -> Result<Vec<Pair>, String> {
    let ddl: String = catalog
        .tables
        .iter()
        .map(|t| render_ddl(t, zh) + "\n")
        .collect();
    let lang = if zh { "Chinese" } else { "English" };
    let user = format!(
        "Business: {}\nPostgreSQL schema:\n{ddl}\nWrite {} questions a business user would ask, in {lang}, each with one PostgreSQL SELECT that answers it, using only the tables and columns above. Answer with a JSON array of objects {{\"question\": ..., \"sql\": ...}} and nothing else.",
        catalog.business_context,
        (catalog.tables.len() * 5).clamp(5, 200)
    );
    let text = llm.chat(
        "You write correct PostgreSQL for analytics questions.",
        &user,
    )?;
    let v = json_in(&text, '[', ']').ok_or("the answer holds no JSON array")?;
    let pairs: Vec<Pair> =
        serde_json::from_value(v).map_err(|e| format!("unexpected pair shape: {e}"))?;
    let pairs: Vec<Pair> = pairs
        .into_iter()
        .filter(|p| !p.question.trim().is_empty() && !p.sql.trim().is_empty())
        .collect();
    if pairs.is_empty() {
        return Err("the answer holds no pairs".into());
    }
    Ok(pairs)
}

/// The newest pair file of the task.
pub fn latest_pair_file(dir: &std::path::Path) -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("qs_") && n.ends_with("_pair.json"))
        .collect();
    names.sort();
    names.pop()
}

pub fn timestamp() -> String {
    chrono::Local::now().format("%Y%m%d_%H%M%S").to_string()
}

pub struct QaGeneration;

impl Step for QaGeneration {
    fn run(&self, ctx: &mut StepContext<'_>) -> Result<Value, StepError> {
        let p = Params::of(ctx);
        let catalog = load_catalog(ctx)?;
        let zh = p.chinese();
        let (pairs, source) = match Llm::from_env() {
            None => {
                ctx.info("no language model configured (BKDATA_LLM_URL): pairs come from the schema generator");
                (schema_pairs(&catalog, zh), "schema")
            }
            Some(llm) => match llm_pairs(&llm, &catalog, zh) {
                Ok(p) => {
                    ctx.info(&format!("{} pairs from {}", p.len(), llm.shown()));
                    (p, "llm")
                }
                Err(e) => {
                    ctx.warn(&format!(
                        "the language model at {} failed ({e}): pairs come from the schema generator",
                        llm.shown()
                    ));
                    (schema_pairs(&catalog, zh), "schema")
                }
            },
        };
        if pairs.is_empty() {
            return Err(StepError("no question-SQL pairs could be generated".into()));
        }
        let file = format!("qs_{}_{}_pair.json", catalog.db_name, timestamp());
        let body = serde_json::to_vec_pretty(&pairs).map_err(|e| StepError(e.to_string()))?;
        ctx.write_output(&file, &body)?;
        ctx.info(&format!("{} pairs written to {file}", pairs.len()));
        Ok(
            json!({"pair_file": file, "pairs": pairs.len(), "source": source, "tables": catalog.tables.len()}),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ForeignKey;

    fn col(name: &str, kind: Kind, comment: &str) -> ColumnInfo {
        ColumnInfo {
            name: name.into(),
            data_type: "text".into(),
            kind,
            nullable: false,
            default: None,
            comment: (!comment.is_empty()).then(|| comment.into()),
            samples: vec![],
            enum_values: None,
            min: None,
            max: None,
        }
    }

    fn tables() -> Vec<TableInfo> {
        let mut state = col("state", Kind::Text, "状态");
        state.enum_values = Some(vec!["open".into(), "it's closed".into()]);
        let mut day = col("day", Kind::Date, "日期");
        day.max = Some("2024-03-10".into());
        let parent = TableInfo {
            schema: "public".into(),
            name: "company".into(),
            comment: Some("业务_公司表，公司".into()),
            row_count: 2,
            columns: vec![
                col("id", Kind::Text, ""),
                col("company_name", Kind::Text, "公司名称"),
            ],
            primary_key: vec!["id".into()],
            foreign_keys: vec![],
        };
        let child = TableInfo {
            schema: "sales".into(),
            name: "Order".into(),
            comment: None,
            row_count: 10,
            columns: vec![
                col("id", Kind::Numeric, ""),
                col("company_id", Kind::Text, ""),
                col("pay_sum", Kind::Numeric, "支付总金额"),
                state,
                day,
            ],
            primary_key: vec!["id".into()],
            foreign_keys: vec![ForeignKey {
                columns: vec!["company_id".into()],
                ref_schema: "public".into(),
                ref_table: "company".into(),
                ref_columns: vec!["id".into()],
            }],
        };
        vec![parent, child]
    }

    #[test]
    fn pairs_follow_the_schema_and_the_language() {
        let all = tables();
        assert_eq!(label_t(&all[0]), "公司表");
        let en = table_pairs(&all[1], &all, false);
        let sqls: Vec<&str> = en.iter().map(|p| p.sql.as_str()).collect();
        // Quoted where needed, literals escaped, keys not summed, the join along the key.
        assert!(
            sqls.contains(&"SELECT COUNT(*) AS total FROM sales.\"Order\";"),
            "{sqls:?}"
        );
        assert!(sqls.contains(&"SELECT COUNT(*) AS cnt FROM sales.\"Order\" WHERE state = 'open';"));
        assert!(sqls
            .iter()
            .any(|s| s.contains("BETWEEN DATE '2024-03-04' AND DATE '2024-03-10'")));
        assert!(sqls
            .iter()
            .any(|s| s.contains("JOIN public.company p ON c.company_id = p.id")));
        assert!(!sqls.iter().any(|s| s.contains("SUM(id)")));
        assert!(en[0].question.starts_with("How many records"));
        let zh = table_pairs(&all[1], &all, true);
        assert!(zh[0].question.ends_with("共有多少条记录？"));
        assert_eq!(en.len(), zh.len());
    }
}
