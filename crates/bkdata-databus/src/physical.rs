//! What a binding is physically: its storage type and expiry checked, its physical table's
//! name and fields, its table spec, the table created, and the driver's sink that writes it.
use crate::error::DatabusError;
use bkdata_api::databus::FieldSpec;
use bkdata_models::databus::{DataStorage, ResultTable, StorageCluster};
use bkdata_storage::{ColType, Column, Sink, TableSpec, TIME_COLUMN};
use serde_json::{json, Value};

/// Storage types a result table can be bound to: one per cluster type (`queue` is its own
/// stream, `alert` the alert path).
pub const STORAGE_TYPES: [&str; 7] = crate::clusters::CLUSTER_TYPES;
/// Columns every clean row carries, added to each physical table.
pub const TIME_COLUMNS: [(&str, &str); 3] = [
    ("dtEventTime", "string"),
    (TIME_COLUMN, "long"),
    ("localTime", "string"),
];
/// Where an `alert` binding's rows go: the alert path's events.
pub const ALERT_TABLE: &str = "alert_events";

pub fn check_storage_type(t: &str, field: &str) -> Result<(), DatabusError> {
    if STORAGE_TYPES.contains(&t) {
        Ok(())
    } else {
        Err(DatabusError::field(
            field,
            format!(
                "unsupported storage type {t:?}: supported are {}",
                STORAGE_TYPES.join(", ")
            ),
        ))
    }
}

/// `expires`: `"7d"`, `"2w"`, `"3m"` (30-day months), `"1y"`, a bare number of days, or
/// `"-1"` / `"-1d"` for never.
pub fn parse_expires(s: &str) -> Result<Option<i32>, DatabusError> {
    let s = s.trim();
    if s == "-1" || s == "-1d" {
        return Ok(None);
    }
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let mult = match unit {
        "" | "d" => 1,
        "w" => 7,
        "m" => 30,
        "y" => 365,
        _ => 0,
    };
    match n.parse::<i32>() {
        Ok(n) if n > 0 && mult > 0 && n <= 36_500 / mult => Ok(Some(n * mult)),
        _ => Err(DatabusError::field(
            "expires",
            format!(
                "expires {s:?} is not a duration like \"7d\", \"2w\", \"3m\" or \"-1\" (never)"
            ),
        )),
    }
}

pub(crate) fn physical_name(
    storage_type: &str,
    cluster: &StorageCluster,
    t: &ResultTable,
    asked: Option<&str>,
) -> Result<String, DatabusError> {
    let conn = cluster.connection.as_object().cloned().unwrap_or_default();
    let name = match asked.map(str::trim).filter(|s| !s.is_empty()) {
        // bklog's merged ES storage sends `write_{yyyyMMdd}_{table_id}`, braces and all.
        Some(a) => a.replace(
            "{table_id}",
            &if storage_type == "es" {
                t.result_table_id.to_ascii_lowercase()
            } else {
                t.result_table_id.clone()
            },
        ),
        None if storage_type == "queue" => crate::clean_job::output_topic(&t.result_table_id),
        None if storage_type == "alert" => ALERT_TABLE.to_string(),
        None => bkdata_storage::default_physical_name(
            storage_type,
            &conn,
            &t.result_table_id,
            t.bk_biz_id,
        ),
    };
    if storage_type != "queue" && storage_type != "alert" {
        bkdata_storage::check_physical_name(storage_type, &name)
            .map_err(|m| DatabusError::field("physical_table_name", m))?;
    }
    Ok(name)
}

/// The storage's fields: those sent (each must be a field of the result table; `physical_field`
/// renames the column) or the result table's own.
pub(crate) fn storage_fields(
    t: &ResultTable,
    sent: Option<&[FieldSpec]>,
) -> Result<Value, DatabusError> {
    let rt_fields = t.fields.as_array().cloned().unwrap_or_default();
    let list = match sent.filter(|l| !l.is_empty()) {
        Some(l) => l.to_vec(),
        None => crate::clean::stored_fields(&t.fields),
    };
    let mut out: Vec<Value> = Vec::new();
    for (i, f) in list.iter().enumerate() {
        let name = f.field_name.as_deref().unwrap_or("");
        if name.is_empty() {
            return Err(DatabusError::field(
                "fields",
                format!("fields[{i}] has no field_name"),
            ));
        }
        let known = rt_fields.iter().find(|r| r["field_name"] == name);
        let is_time = TIME_COLUMNS.iter().any(|(n, _)| *n == name);
        if known.is_none() && !is_time {
            return Err(DatabusError::field(
                "fields",
                format!(
                    "{name} is not a field of result table {}",
                    t.result_table_id
                ),
            ));
        }
        if out.iter().any(|o| o["field_name"] == name) {
            continue;
        }
        let ty = f
            .field_type
            .as_deref()
            .or_else(|| known.and_then(|k| k["field_type"].as_str()))
            .unwrap_or("string");
        if ColType::parse(ty).is_none() {
            return Err(DatabusError::field(
                "fields",
                format!(
                    "field {name}: unknown field_type {ty:?} (int, long, double, string, text)"
                ),
            ));
        }
        let physical = f
            .physical_field
            .as_deref()
            .filter(|p| !p.is_empty())
            .unwrap_or(name);
        if physical.is_empty()
            || physical.len() > 64
            || !physical
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(DatabusError::field(
                "fields",
                format!("field {name}: physical_field {physical:?} must be letters, digits or '_'"),
            ));
        }
        out.push(json!({
            "field_name": name, "field_type": ty, "physical_field": physical,
            "field_alias": f.field_alias.as_deref().unwrap_or(name),
            "is_dimension": f.is_dimension.unwrap_or(false),
            "field_index": f.field_index.unwrap_or(out.len() as i64 + 1),
        }));
    }
    Ok(Value::Array(out))
}

/// The physical table a binding describes: its fields plus the time columns of every row.
pub fn spec_of(d: &DataStorage) -> TableSpec {
    let mut columns: Vec<Column> = d
        .fields
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| {
            Some(Column {
                name: f["physical_field"]
                    .as_str()
                    .or(f["field_name"].as_str())?
                    .to_string(),
                source: f["field_name"].as_str()?.to_string(),
                ty: ColType::parse(f["field_type"].as_str().unwrap_or("string"))?,
            })
        })
        .collect();
    for (name, ty) in TIME_COLUMNS {
        if !columns.iter().any(|c| c.name == name || c.source == name) {
            columns.push(Column {
                name: name.into(),
                source: name.into(),
                ty: ColType::parse(ty).unwrap_or(ColType::String),
            });
        }
    }
    TableSpec {
        physical: d.physical_table_name.clone(),
        columns,
        expire_days: d.expire_days.and_then(|n| u32::try_from(n).ok()),
        key_fields: d.storage_config["key_fields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect(),
    }
}

/// A checked binding, ready to be created on its cluster and saved.
pub struct Prepared {
    pub row: DataStorage,
    pub cluster: StorageCluster,
}

impl Prepared {
    /// Create the physical table (or index, key space) on the cluster.
    pub async fn create_physical(&self) -> Result<(), DatabusError> {
        create_physical(&self.row, &self.cluster).await
    }
}

pub async fn create_physical(
    d: &DataStorage,
    cluster: &StorageCluster,
) -> Result<(), DatabusError> {
    if d.storage_type == "queue" || d.storage_type == "alert" {
        return Ok(());
    }
    let mut sink = sink_for(d, cluster, &spec_of(d), 0)
        .await
        .map_err(crate::error::from_storage)?;
    sink.ensure().await.map_err(crate::error::from_storage)?;
    Ok(())
}

/// Connect to a binding's cluster as its shipper (the API, the shipper and the expiry pass
/// all reach a storage this way).
pub async fn sink_for(
    d: &DataStorage,
    cluster: &StorageCluster,
    spec: &TableSpec,
    partition: u32,
) -> Result<Sink, bkdata_storage::StorageError> {
    let conn = cluster.connection.as_object().cloned().unwrap_or_default();
    let shipper = crate::shipper::partition_shipper(
        &shipper_name(&d.result_table_id, &d.storage_type),
        partition,
    );
    Sink::connect(&cluster.cluster_type, &conn, spec.clone(), &shipper).await
}

/// Name of the shipper of a binding: its consumer name on the bus and its key in the storage's
/// offsets table.
pub fn shipper_name(result_table_id: &str, storage_type: &str) -> String {
    format!(
        "ship_{storage_type}_{}",
        result_table_id.replace(|c: char| !c.is_ascii_alphanumeric() && c != '_', "_")
    )
}
