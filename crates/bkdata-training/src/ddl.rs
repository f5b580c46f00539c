//! `ddl_generation`: each table of the table list read from the business database's catalog
//! and written as `{table}.ddl` and `{table}_detail.md`, with `metadata.txt` and
//! `filename_mapping.txt`. The catalog itself is the step's result
//! (`ddl_generation_result.json`), which the later steps read.
use crate::catalog::{self, ColumnInfo, Kind, TableInfo};
use crate::is_chinese;
use crate::registry::{redacted, Registry};
use bkdata_pipeline::{Step, StepContext, StepError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The task parameters the steps read (seed 002's create request).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Params {
    pub table_list_file: String,
    pub business_context: String,
    pub db_name: Option<String>,
    pub enable_llm_repair: bool,
    pub modify_original_file: bool,
}

impl Params {
    pub fn of(ctx: &StepContext<'_>) -> Params {
        serde_json::from_value(ctx.parameters.clone()).unwrap_or_default()
    }
    pub fn chinese(&self) -> bool {
        is_chinese(&self.business_context)
    }
}

/// What `ddl_generation` found, as its result file holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Catalog {
    pub db_name: String,
    pub business_context: String,
    pub tables: Vec<TableInfo>,
    /// `schema.table` → file stem (`{stem}.ddl`, `{stem}_detail.md`).
    pub files: Vec<(String, String)>,
}

pub const RESULT_FILE: &str = "ddl_generation_result.json";

/// The catalog of an earlier `ddl_generation` of this task.
pub fn load_catalog(ctx: &StepContext<'_>) -> Result<Catalog, StepError> {
    let path = ctx.task_dir.join(RESULT_FILE);
    let text = std::fs::read(&path).map_err(|_| {
        StepError(format!(
            "{RESULT_FILE} is missing: run ddl_generation first"
        ))
    })?;
    // The executor wraps a step's answer: `{step, execution_id, status, …, result}`.
    let v: Value = serde_json::from_slice(&text)
        .map_err(|e| StepError(format!("{RESULT_FILE} cannot be read: {e}")))?;
    serde_json::from_value(v["result"].clone())
        .map_err(|e| StepError(format!("{RESULT_FILE} cannot be read: {e}")))
}

/// Where `table_list_file` is read: the task folder first, then the operator's input folder
/// (`input_dir`: `BKDATA_PIPELINE_INPUT_DIR`, default `inputs` beside the task folders' root). The path is
/// relative and stays inside the folder it is found in.
pub fn find_table_list(
    task_dir: &Path,
    input_dir: Option<&Path>,
    name: &str,
) -> Result<PathBuf, StepError> {
    bkdata_pipeline::files::check_relative_path("table_list_file", name)?;
    let inputs = input_dir.map(Path::to_path_buf).unwrap_or_else(|| {
        task_dir
            .parent()
            .and_then(Path::parent)
            .unwrap_or(task_dir)
            .join("inputs")
    });
    for dir in [task_dir.to_path_buf(), inputs.clone()] {
        let p = dir.join(name);
        if let (Ok(real), Ok(root)) = (p.canonicalize(), dir.canonicalize()) {
            if real.starts_with(&root) && real.is_file() {
                return Ok(real);
            }
        }
    }
    Err(StepError(format!(
        "table list file {name:?} not found in the task folder or in {}",
        inputs.display()
    )))
}

/// A file stem for a table: its name (public schema) or `schema__name`, plain characters.
fn stem(schema: &str, name: &str) -> String {
    let raw = if schema == "public" {
        name.to_string()
    } else {
        format!("{schema}__{name}")
    };
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

pub struct DdlGeneration {
    /// The operator's input folder (`TrainingConfig::input_dir`).
    pub input_dir: Option<PathBuf>,
}

impl Step for DdlGeneration {
    fn run(&self, ctx: &mut StepContext<'_>) -> Result<Value, StepError> {
        let p = Params::of(ctx);
        let registry = Registry::from_env().map_err(|e| StepError(e.to_string()))?;
        let (db_name, db) = registry
            .resolve(p.db_name.as_deref())
            .map_err(|e| StepError(e.to_string()))?;
        let list_path =
            find_table_list(&ctx.task_dir, self.input_dir.as_deref(), &p.table_list_file)?;
        let text = std::fs::read_to_string(&list_path).map_err(|e| {
            StepError(format!(
                "cannot read table list file {:?}: {e}",
                p.table_list_file
            ))
        })?;
        let names = catalog::parse_table_list(&text)
            .map_err(|e| StepError(format!("table list file {:?}: {e}", p.table_list_file)))?;
        if names.is_empty() {
            return Err(StepError(format!(
                "table list file {:?} lists no tables (one schema.table a line)",
                p.table_list_file
            )));
        }
        let shown = format!("{db_name} ({})", redacted(&db.url));
        ctx.info(&format!("reading {} tables of {shown}", names.len()));
        let mut client = catalog::connect(&db.url, &shown).map_err(|e| StepError(e.to_string()))?;
        let mut tables = Vec::new();
        for (schema, name) in &names {
            if ctx.is_cancelled() {
                return Err(StepError("cancelled".into()));
            }
            let t = catalog::read_table(&mut client, schema, name)
                .map_err(|e| StepError(e.to_string()))?;
            tables.push(t);
        }
        let zh = p.chinese();
        let mut files: Vec<(String, String)> = Vec::new();
        for t in &tables {
            let mut s = stem(&t.schema, &t.name);
            if files.iter().any(|(_, f)| *f == s) {
                s = format!("{s}_{}", files.len() + 1);
            }
            ctx.write_output(&format!("{s}.ddl"), render_ddl(t, zh).as_bytes())?;
            ctx.write_output(&format!("{s}_detail.md"), render_md(t, zh).as_bytes())?;
            ctx.info(&format!(
                "{}: {} columns, {} rows",
                t.qualified(),
                t.columns.len(),
                t.row_count
            ));
            files.push((t.qualified(), s));
        }
        let mapping: String = files
            .iter()
            .map(|(t, s)| format!("{t}: {s}.ddl, {s}_detail.md\n"))
            .collect();
        ctx.write_output(
            "filename_mapping.txt",
            format!("# table: files\n{mapping}").as_bytes(),
        )?;
        ctx.write_output(
            "metadata.txt",
            render_metadata(&db_name, &p.business_context, &tables).as_bytes(),
        )?;
        let catalog = Catalog {
            db_name,
            business_context: p.business_context.clone(),
            tables,
            files,
        };
        serde_json::to_value(&catalog).map_err(|e| StepError(e.to_string()))
    }
}

fn col_label(c: &ColumnInfo) -> String {
    c.comment.clone().unwrap_or_default()
}

/// `create table` with the comments a reader (or a model) needs, as valid SQL.
pub fn render_ddl(t: &TableInfo, zh: bool) -> String {
    let mut out = String::new();
    let (name_l, desc_l) = if zh {
        ("中文名", "描述")
    } else {
        ("name", "description")
    };
    out.push_str(&format!(
        "-- {name_l}: {}\n-- {desc_l}: {}\n",
        catalog::label_t(t),
        t.comment.as_deref().unwrap_or("")
    ));
    out.push_str(&format!("create table {} (\n", t.qualified()));
    let mut lines: Vec<String> = t
        .columns
        .iter()
        .map(|c| {
            let mut l = format!("  {} {}", c.name, c.data_type);
            if let Some(d) = &c.default {
                l.push_str(&format!(" default {d}"));
            }
            if !c.nullable {
                l.push_str(" not null");
            }
            l
        })
        .collect();
    if !t.primary_key.is_empty() {
        lines.push(format!("  primary key ({})", t.primary_key.join(", ")));
    }
    for f in &t.foreign_keys {
        lines.push(format!(
            "  foreign key ({}) references {}.{} ({})",
            f.columns.join(", "),
            f.ref_schema,
            f.ref_table,
            f.ref_columns.join(", ")
        ));
    }
    let n = lines.len();
    for (i, l) in lines.into_iter().enumerate() {
        let comma = if i + 1 < n { "," } else { "" };
        let comment = t
            .columns
            .get(i)
            .map(col_label)
            .filter(|c| !c.is_empty())
            .map(|c| format!("  -- {c}"))
            .unwrap_or_default();
        out.push_str(&format!("{l}{comma}{comment}\n"));
    }
    out.push_str(");\n");
    out
}

/// The table's document: what each column is and holds.
pub fn render_md(t: &TableInfo, zh: bool) -> String {
    let title = t.comment.as_deref().unwrap_or("");
    let mut out = format!("## {}（{title}）\n", t.name);
    if zh {
        out.push_str(&format!(
            "{} 表{title}，共 {} 行。\n字段列表：\n",
            t.qualified(),
            t.row_count
        ));
    } else {
        out.push_str(&format!(
            "Table {} ({title}), {} rows.\nColumns:\n",
            t.qualified(),
            t.row_count
        ));
    }
    for c in &t.columns {
        let mut tags = Vec::new();
        if t.primary_key.contains(&c.name) {
            tags.push(if zh { "主键" } else { "primary key" }.to_string());
        }
        if !c.nullable {
            tags.push(if zh { "非空" } else { "not null" }.to_string());
        }
        for f in t
            .foreign_keys
            .iter()
            .filter(|f| f.columns.contains(&c.name))
        {
            tags.push(format!(
                "{} {}.{}",
                if zh { "外键→" } else { "references" },
                f.ref_table,
                f.ref_columns.join(",")
            ));
        }
        let tags = if tags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", tags.join(", "))
        };
        let samples = if c.samples.is_empty() {
            String::new()
        } else {
            format!(
                " [{}: {}]",
                if zh { "示例" } else { "examples" },
                c.samples
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        out.push_str(&format!(
            "- {} ({}) - {}{tags}{samples}\n",
            c.name,
            c.data_type,
            col_label(c)
        ));
    }
    let enums: Vec<&ColumnInfo> = t
        .columns
        .iter()
        .filter(|c| c.enum_values.is_some())
        .collect();
    let ranged: Vec<&ColumnInfo> = t
        .columns
        .iter()
        .filter(|c| matches!(c.kind, Kind::Date | Kind::Timestamp) && c.min.is_some())
        .collect();
    if !enums.is_empty() || !ranged.is_empty() {
        out.push_str(if zh {
            "字段补充说明：\n"
        } else {
            "Notes:\n"
        });
        for c in enums {
            let v = c
                .enum_values
                .clone()
                .unwrap_or_default()
                .join(if zh { "、" } else { ", " });
            if zh {
                out.push_str(&format!("- {} 为枚举字段，取值：{v}\n", c.name));
            } else {
                out.push_str(&format!("- {} is an enumeration of: {v}\n", c.name));
            }
        }
        for c in ranged {
            let (a, b) = (
                c.min.clone().unwrap_or_default(),
                c.max.clone().unwrap_or_default(),
            );
            if zh {
                out.push_str(&format!("- {} 的范围：{a} 至 {b}\n", c.name));
            } else {
                out.push_str(&format!("- {} ranges from {a} to {b}\n", c.name));
            }
        }
    }
    out
}

fn render_metadata(db_name: &str, context: &str, tables: &[TableInfo]) -> String {
    let mut out = format!(
        "# schema metadata\ndb_name: {db_name}\nbusiness_context: {context}\ngenerated_at: {}\ntables: {}\n\n",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        tables.len()
    );
    for t in tables {
        out.push_str(&format!(
            "{}\t{}\trows={}\tcolumns={}\tprimary_key={}\tforeign_keys={}\n",
            t.qualified(),
            t.comment.as_deref().unwrap_or(""),
            t.row_count,
            t.columns.len(),
            t.primary_key.join(","),
            t.foreign_keys
                .iter()
                .map(|f| format!(
                    "{}->{}.{}",
                    f.columns.join(","),
                    f.ref_table,
                    f.ref_columns.join(",")
                ))
                .collect::<Vec<_>>()
                .join(";")
        ));
    }
    out
}
