//! Raw data: registration (BKData access shape), ingest onto the bus, tail.
use crate::error::DatabusError;
use bkdata_api::databus::{DeployPlanInfo, RawDataInfo, RawDataRequest};
use bkdata_bus::{Bus, BusError};
use bkdata_models::auth::Caller;
use bkdata_models::databus::RawData;
use bkdata_models::schema::raw_datas as r;
use bkdata_models::states::CollectorStatus;
use diesel::prelude::*;
use serde_json::{json, Value};
use std::io::Read;

/// The bus topic of a raw data: NATS subject `bkdata.raw.{id}`.
pub fn topic(id: i64) -> String {
    format!("raw.{id}")
}

/// BKData datetimes: ISO with a space instead of the `T`.
pub fn bk_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

pub fn view(x: &RawData, subject: Option<String>) -> RawDataInfo {
    RawDataInfo {
        id: x.id,
        raw_data_id: x.id,
        bk_biz_id: x.bk_biz_id,
        raw_data_name: x.raw_data_name.clone(),
        raw_data_alias: x.raw_data_alias.clone(),
        data_encoding: x.data_encoding.clone(),
        data_scenario: x.data_scenario.clone(),
        sensitivity: x.sensitivity.clone(),
        description: x.description.clone(),
        maintainer: x.maintainer.clone(),
        created_by: x.created_by.clone(),
        created_at: Some(bk_time(x.created_at)),
        updated_by: x.updated_by.clone(),
        updated_at: Some(bk_time(x.updated_at)),
        records_ingested: x.records_ingested,
        last_ingest_at: x.last_ingest_at.map(bk_time),
        topic: topic(x.id),
        subject,
        status: x.collector_status.to_string(),
        active: x.collector_status == CollectorStatus::Started,
        storage_partitions: i64::from(x.partitions),
        partition_key: x.partition_key.clone(),
        extra: x
            .access_extra
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| k.as_str() != "access_conf_info")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The deploy plan of a raw data, as BKData's `deploy_plan/{id}/` answers it.
pub fn deploy_plan_view(x: &RawData, subject: Option<String>) -> DeployPlanInfo {
    DeployPlanInfo {
        raw_data_id: x.id,
        data_id: x.id,
        bk_biz_id: x.bk_biz_id,
        bk_app_code: x.bk_app_code.clone(),
        data_scenario: x.data_scenario.clone(),
        description: x.description.clone(),
        topic: topic(x.id),
        status: x.collector_status.to_string(),
        active: x.collector_status == CollectorStatus::Started,
        access_raw_data: view(x, subject),
        access_conf_info: x
            .access_extra
            .get("access_conf_info")
            .cloned()
            .unwrap_or_else(|| json!({})),
    }
}

/// The stored encoding name of a requested one: UTF-8, or one of the GBK family (records
/// are decoded by the clean's `conf.encoding`).
fn encoding_of(requested: &str) -> Result<String, DatabusError> {
    Ok(
        match requested.to_ascii_uppercase().replace('-', "").as_str() {
            "" | "UTF8" => "UTF-8",
            "GBK" => "GBK",
            "GB2312" => "GB2312",
            "GB18030" => "GB18030",
            other => {
                return Err(DatabusError::field(
                    "data_encoding",
                    format!(
                    "data_encoding {other:?} is not supported: use UTF-8, GBK, GB2312 or GB18030"
                ),
                ))
            }
        }
        .to_string(),
    )
}

/// Register raw data. Accepts the flat shape `{bk_biz_id, raw_data_name, …}` and BKData's
/// access shape `{bk_biz_id, data_scenario, access_raw_data: {raw_data_name, …}}`.
pub fn create(
    conn: &mut PgConnection,
    caller: &Caller,
    body: &RawDataRequest,
) -> Result<RawData, DatabusError> {
    let f = body.flattened();
    let s = |v: &Option<String>| v.as_deref().map(str::trim).unwrap_or("").to_string();
    let biz = f.bk_biz_id.filter(|b| *b > 0).ok_or_else(|| {
        DatabusError::field("bk_biz_id", "bk_biz_id is required (a positive integer)")
    })?;
    let name = s(&f.raw_data_name);
    let name_ok = !name.is_empty()
        && name.len() <= 50
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !name_ok {
        return Err(DatabusError::field(
            "raw_data_name",
            "raw_data_name is required: a letter, then letters, digits or '_' (at most 50)",
        ));
    }
    let encoding = encoding_of(&s(&f.data_encoding))?;
    let partitions =
        crate::partitions::check_count(f.storage_partitions.unwrap_or(1), 1).map_err(|_| {
            DatabusError::field(
                "storage_partitions",
                format!(
                    "storage_partitions must be between 1 and {}",
                    crate::partitions::MAX_PARTITIONS
                ),
            )
        })?;
    let partition_key = partition_key_of(f.partition_key.as_deref())?;
    let or = |v: String, d: &str| if v.is_empty() { d.to_string() } else { v };
    let extra = Value::Object(body.kept_extra());
    conn.transaction(|conn| {
        let id = match f.preassigned_data_id {
            Some(id) if id <= 0 => {
                return Err(DatabusError::field(
                    "preassigned_data_id",
                    "preassigned_data_id must be a positive integer",
                ))
            }
            Some(id) => {
                let taken: i64 = r::table.find(id).count().get_result(conn)?;
                if taken > 0 {
                    return Err(DatabusError::AlreadyExists(format!(
                        "raw data id {id} (preassigned_data_id) is already taken"
                    )));
                }
                id
            }
            None => next_free_id(conn)?,
        };
        let inserted = diesel::insert_into(r::table)
            .values((
                r::id.eq(id),
                r::bk_biz_id.eq(biz),
                r::raw_data_name.eq(&name),
                r::raw_data_alias.eq(or(s(&f.raw_data_alias), &name)),
                r::data_encoding.eq(&encoding),
                r::data_scenario.eq(or(s(&f.data_scenario), "custom")),
                r::sensitivity.eq(or(s(&f.sensitivity), "private")),
                r::description.eq(s(&f.description)),
                r::maintainer.eq(or(s(&f.maintainer), &caller.username)),
                r::bk_app_code.eq(&caller.app_code),
                r::created_by.eq(&caller.username),
                r::updated_by.eq(&caller.username),
                r::access_extra.eq(&extra),
                r::partitions.eq(partitions),
                r::partition_key.eq(&partition_key),
            ))
            .on_conflict((r::bk_biz_id, r::raw_data_name))
            .do_nothing()
            .returning(RawData::as_returning())
            .get_result(conn)
            .optional()?;
        inserted.ok_or_else(|| {
            DatabusError::AlreadyExists(format!("raw data {name:?} already exists in biz {biz}"))
        })
    })
}

/// A partition key as given: a field name (blank: none).
fn partition_key_of(key: Option<&str>) -> Result<Option<String>, DatabusError> {
    let Some(key) = key.map(str::trim).filter(|k| !k.is_empty()) else {
        return Ok(None);
    };
    if key.len() > 128 || key.chars().any(char::is_control) {
        return Err(DatabusError::field(
            "partition_key",
            "partition_key must be a field name of at most 128 characters",
        ));
    }
    Ok(Some(key.to_string()))
}

/// The next id of the sequence no preassigned id has taken.
fn next_free_id(conn: &mut PgConnection) -> Result<i64, DatabusError> {
    use diesel::sql_types::BigInt;
    #[derive(QueryableByName)]
    struct Next {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    loop {
        let n: Next =
            diesel::sql_query("SELECT nextval(pg_get_serial_sequence('raw_datas', 'id')) AS id")
                .get_result(conn)?;
        let taken: i64 = r::table.find(n.id).count().get_result(conn)?;
        if taken == 0 {
            return Ok(n.id);
        }
    }
}

/// PUT `deploy_plan/{id}/`: the raw data's description, alias, maintainer, encoding,
/// sensitivity, scenario and kept extras. Its name and biz cannot change.
pub fn update(
    conn: &mut PgConnection,
    caller: &Caller,
    id: i64,
    body: &RawDataRequest,
) -> Result<RawData, DatabusError> {
    let old = get(conn, caller, id)?;
    let f = body.flattened();
    let s = |v: &Option<String>| v.as_deref().map(str::trim).unwrap_or("").to_string();
    if let Some(name) = f.raw_data_name.as_deref().map(str::trim) {
        if name != old.raw_data_name {
            return Err(DatabusError::field(
                "raw_data_name",
                format!(
                    "raw_data_name cannot change (it is {:?}); register a new raw data instead",
                    old.raw_data_name
                ),
            ));
        }
    }
    if let Some(biz) = f.bk_biz_id {
        if biz != old.bk_biz_id {
            return Err(DatabusError::field(
                "bk_biz_id",
                format!("raw data {id} belongs to biz {}, not {biz}", old.bk_biz_id),
            ));
        }
    }
    let pick = |v: &Option<String>, old: &str| {
        let v = s(v);
        if v.is_empty() {
            old.to_string()
        } else {
            v
        }
    };
    let encoding = match f.data_encoding.as_deref() {
        Some(e) if !e.trim().is_empty() => encoding_of(e.trim())?,
        _ => old.data_encoding.clone(),
    };
    let mut extra = old.access_extra.as_object().cloned().unwrap_or_default();
    extra.extend(body.kept_extra());
    Ok(diesel::update(r::table.find(id))
        .set((
            r::raw_data_alias.eq(pick(&f.raw_data_alias, &old.raw_data_alias)),
            r::data_encoding.eq(encoding),
            r::data_scenario.eq(pick(&f.data_scenario, &old.data_scenario)),
            r::sensitivity.eq(pick(&f.sensitivity, &old.sensitivity)),
            r::description.eq(f
                .description
                .as_deref()
                .map_or(old.description.clone(), |d| d.trim().to_string())),
            r::maintainer.eq(pick(&f.maintainer, &old.maintainer)),
            r::access_extra.eq(Value::Object(extra)),
            r::updated_by.eq(&caller.username),
            r::updated_at.eq(diesel::dsl::now),
        ))
        .returning(RawData::as_returning())
        .get_result(conn)?)
}

/// `collectorhub/{id}/stop/` and `…/start/`: a stopped raw data refuses ingest (nothing
/// already on the bus is touched: its cleans go on with what was accepted).
pub fn set_collector(
    conn: &mut PgConnection,
    caller: &Caller,
    id: i64,
    started: bool,
) -> Result<RawData, DatabusError> {
    get(conn, caller, id)?;
    Ok(diesel::update(r::table.find(id))
        .set((
            r::collector_status.eq(if started {
                CollectorStatus::Started
            } else {
                CollectorStatus::Stopped
            }),
            r::updated_by.eq(&caller.username),
            r::updated_at.eq(diesel::dsl::now),
        ))
        .returning(RawData::as_returning())
        .get_result(conn)?)
}

/// The caller's raw data, or not found.
pub fn get(conn: &mut PgConnection, caller: &Caller, id: i64) -> Result<RawData, DatabusError> {
    r::table
        .find(id)
        .filter(r::bk_app_code.eq(&caller.app_code))
        .select(RawData::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DatabusError::NotFound(format!("raw data {id} does not exist")))
}

pub fn list(
    conn: &mut PgConnection,
    caller: &Caller,
    bk_biz_id: Option<i64>,
) -> Result<Vec<RawData>, DatabusError> {
    let mut q = r::table
        .filter(r::bk_app_code.eq(&caller.app_code))
        .into_boxed();
    if let Some(b) = bk_biz_id {
        q = q.filter(r::bk_biz_id.eq(b));
    }
    Ok(q.order(r::id).select(RawData::as_select()).load(conn)?)
}

pub fn delete(conn: &mut PgConnection, caller: &Caller, id: i64) -> Result<(), DatabusError> {
    get(conn, caller, id)?;
    use bkdata_models::schema::cleans as c;
    let cleans: Vec<String> = c::table
        .filter(c::raw_data_id.eq(id))
        .select(c::processing_id)
        .load(conn)?;
    if !cleans.is_empty() {
        return Err(DatabusError::field(
            "raw_data_id",
            format!(
                "raw data {id} has cleans ({}); delete them first",
                cleans.join(", ")
            ),
        ));
    }
    diesel::delete(r::table.find(id)).execute(conn)?;
    Ok(())
}

pub fn count_ingested(conn: &mut PgConnection, id: i64, n: usize) -> Result<(), DatabusError> {
    diesel::update(r::table.find(id))
        .set((
            r::records_ingested.eq(r::records_ingested + n as i64),
            r::last_ingest_at.eq(chrono::Utc::now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Explicit limits of one ingest request.
#[derive(Debug, Clone, Copy)]
pub struct IngestLimits {
    /// After gzip decoding.
    pub max_bytes: u64,
    pub max_records: usize,
    /// Records per bus message.
    pub batch_records: usize,
}

impl Default for IngestLimits {
    fn default() -> Self {
        IngestLimits {
            max_bytes: 64 * 1024 * 1024,
            max_records: 200_000,
            batch_records: 1000,
        }
    }
}

/// Records of an ingest body: a JSON array (strings as they are, other values as compact
/// JSON) or lines (NDJSON or plain log lines; empty lines skipped); gzip when `gzip` or when
/// the body starts with the gzip magic. Nothing is published unless the whole body parses.
pub fn parse_records(
    body: &[u8],
    gzip: bool,
    limits: &IngestLimits,
) -> Result<Vec<Vec<u8>>, DatabusError> {
    let too_large = |what: String| DatabusError::TooLarge {
        message: what,
        limit: limits.max_bytes,
    };
    let decoded;
    let body = if gzip || body.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body)
            .take(limits.max_bytes + 1)
            .read_to_end(&mut out)
            .map_err(|e| DatabusError::field("body", format!("body is not valid gzip: {e}")))?;
        if out.len() as u64 > limits.max_bytes {
            return Err(too_large(format!(
                "decompressed body is larger than {} bytes",
                limits.max_bytes
            )));
        }
        decoded = out;
        &decoded[..]
    } else {
        body
    };
    if body.len() as u64 > limits.max_bytes {
        return Err(too_large(format!(
            "body is larger than {} bytes",
            limits.max_bytes
        )));
    }
    let trimmed = body.trim_ascii_start();
    let records: Vec<Vec<u8>> = if trimmed.starts_with(b"[") {
        let items: Vec<Value> = serde_json::from_slice(trimmed).map_err(|e| {
            DatabusError::field("body", format!("body is not a valid JSON array: {e}"))
        })?;
        items
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                let rec = match v {
                    Value::String(s) => s.into_bytes(),
                    other => other.to_string().into_bytes(),
                };
                if rec.contains(&b'\n') {
                    return Err(DatabusError::field(
                        "body",
                        format!("record {i} contains a newline; send one line per record"),
                    ));
                }
                Ok(rec)
            })
            .collect::<Result<_, _>>()?
    } else {
        body.split(|b| *b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .filter(|l| !l.trim_ascii().is_empty())
            .map(<[u8]>::to_vec)
            .collect()
    };
    if records.is_empty() {
        return Err(DatabusError::field("body", "no records in the body"));
    }
    if records.len() > limits.max_records {
        return Err(DatabusError::TooLarge {
            message: format!(
                "{} records in one request; the limit is {}",
                records.len(),
                limits.max_records
            ),
            limit: limits.max_records as u64,
        });
    }
    Ok(records)
}

/// Publish records in batches onto the raw data's partitions (by its `partition_key`, or
/// evenly). On a bus failure, says how many were accepted before it, so a client resends only
/// the rest.
pub async fn publish<B: Bus>(
    bus: &B,
    raw: &RawData,
    records: &[Vec<u8>],
    limits: &IngestLimits,
) -> Result<Value, DatabusError> {
    let id = raw.id;
    let t = topic(id);
    let n = raw.partitions.max(1) as u32;
    let per = limits.batch_records.max(1);
    let mut parts: Vec<(u64, Option<u64>, u64)> = vec![(0, None, 0); n as usize];
    let (mut batches, mut accepted) = (0usize, 0usize);
    // A window of `per` records at a time, in order: when the bus fails, every record before
    // the window is stored, so "resend from record N" holds with partitions too.
    for window in records.chunks(per) {
        let groups = crate::spread::spread(window, n, raw.partition_key.as_deref());
        for (k, group) in groups.into_iter().enumerate() {
            if group.is_empty() {
                continue;
            }
            let batch: Vec<Vec<u8>> = group.into_iter().map(|i| window[i].clone()).collect();
            match bus
                .publish(&bkdata_bus::partition_topic(&t, k as u32), &batch)
                .await
            {
                Ok(seq) => {
                    let p = &mut parts[k];
                    p.0 += batch.len() as u64;
                    p.1.get_or_insert(seq);
                    p.2 = seq;
                    batches += 1;
                }
                Err(e) => {
                    let in_doubt = records.len().min(accepted + window.len()) - accepted;
                    let details = json!({"accepted_records": accepted, "rejected_records": records.len() - accepted, "batches": batches});
                    return Err(match e {
                        BusError::NewlineInRecord | BusError::InvalidTopic(_) => {
                            DatabusError::Validation {
                                message: e.to_string(),
                                errors: details,
                            }
                        }
                        other => DatabusError::Unavailable {
                            message: if n == 1 {
                                format!("the bus did not accept records after the first {accepted}: {other}; resend from record {accepted}")
                            } else {
                                format!("the bus did not accept records after the first {accepted}: {other}; resend from record {accepted} (some of the next {in_doubt}, bound for other partitions, may be stored already)")
                            },
                            details,
                        },
                    });
                }
            }
        }
        accepted += window.len();
    }
    let mut report =
        json!({"raw_data_id": id, "records": accepted, "batches": batches, "topic": t});
    if n == 1 {
        report["first_seq"] = json!(parts[0].1);
        report["last_seq"] = json!(parts[0].2);
    } else {
        report["partitions"] = json!(parts
            .iter()
            .enumerate()
            .map(|(k, (records, first, last))| json!({"partition": k, "topic": bkdata_bus::partition_topic(&t, k as u32), "records": records, "first_seq": first, "last_seq": if first.is_some() { json!(last) } else { Value::Null }}))
            .collect::<Vec<_>>());
    }
    Ok(report)
}
