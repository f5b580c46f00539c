//! Issue 18: a running clean stores what verify shows. Conformance cases of every kind (plain
//! JSON, iterate, lists, split, csvline, splitkv, from_url, regex, items, zip, calculate,
//! assign_json, bigint/bigdecimal, pop, selector, conf times, lenient casts) each get a raw data, a clean with the
//! case's config and a PostgreSQL storage; the case's record is ingested and the stored rows
//! are compared with the verify answer for the same config and record, in the stored shape:
//! the verify fields less `_iteration_idx` and the verify `timestamp` (epoch ms), plus
//! `dtEventTimeStamp` (that ms, or the ingest time without a conf), `timestamp` (seconds),
//! `dtEventTime` (formatted in the conf's timezone) and `localTime`.
use bkdata_tests::conformance::{self, Cell};
use bkdata_tests::seed000::pg;
use bkdata_tests::*;
use reqwest::Method;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The cases, by kind (see the module comment). Their field names do not collide with the
/// stored time columns, and none names a field twice.
const CASES: &[&str] = &[
    "bkbase-001", // from_json, untyped fields as strings
    "bkbase-035", // from_json, int and string
    "bkbase-013", // iterate, a failed int cast stored as null
    "bkbase-002", // iterate
    "bkbase-146", // from_json_list, iterate
    "bkbase-055", // split
    "bkbase-030", // csvline
    "bkbase-015", // replace, splitkv
    "bkbase-050", // splitkv
    "bkbase-038", // from_url
    "bkbase-020", // regex_extract without a match: null fields
    "bkbase-044", // regex_extract
    "bkbase-017", // items
    "bkbase-018", // zip
    "bkbase-016", // calculate
    "bkbase-019", // assign_json, conf time
    "bkbase-025", // bigint and bigdecimal, iterate, conf time
    "bkbase-064", // pop, iterate, conf time
    "bkbase-154", // selector
    "bkbase-066", // 48 rows, conf time
    "bkbase-090", // bklog-like envelope, conf time
    "bkbase-059", // trim
    "bkbase-194", // conf time, a null long
];

/// A verify answer: field names and types, rows as raw JSON values.
struct Verified {
    schema: Vec<(String, String)>,
    rows: Vec<Vec<Box<RawValue>>>,
}

async fn verify(srv: &TestServer, conf: &str, msg: &str) -> Verified {
    let r = srv
        .client
        .post(srv.url("/v3/databus/cleans/verify/"))
        .header("X-Bkapi-Authorization", srv.auth_header())
        .json(&json!({"conf": conf, "msg": msg}))
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    #[derive(serde::Deserialize)]
    struct Data {
        result: Vec<Vec<Box<RawValue>>>,
        schema: Vec<String>,
    }
    #[derive(serde::Deserialize)]
    struct Env {
        data: Data,
    }
    let env: Env = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let schema = env
        .data
        .schema
        .iter()
        .map(|s| {
            let (n, t) = s.rsplit_once('(').unwrap();
            (n.to_string(), t.trim_end_matches(')').to_string())
        })
        .collect();
    Verified {
        schema,
        rows: env.data.result,
    }
}

/// Numbers compare as doubles where the column is a double (bigdecimal is stored as one);
/// otherwise as their text.
fn same(ty: &str, stored: &Cell, shown: &Cell) -> bool {
    let num = |c: &Cell| match c {
        Cell::Int(s) => s.parse::<f64>().ok(),
        Cell::Float(f) => Some(*f),
        _ => None,
    };
    match (ty, stored, shown) {
        // Stored as BIGINT: beyond 64 bits it is null (docs/CONFORMANCE.md).
        ("bigint", a, Cell::Int(s)) if s.parse::<i64>().is_err() => *a == Cell::Null,
        ("double" | "bigdecimal", a, b) if num(a).is_some() => num(a) == num(b),
        _ => stored == shown,
    }
}

fn civil(ms: i64, tz_hours: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms + tz_hours * 3_600_000)
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn running_cleans_store_what_verify_shows() {
    let srv = nats_server().await;
    // A clean and a shipper per case, each a long-running job: room for all of them.
    let _worker = srv.worker(&[("BKDATA_WORKER_CONCURRENCY", "64")]);
    let cases: BTreeMap<String, conformance::Case> = conformance::load()
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect();
    let stored_names: BTreeSet<&str> = ["dtEventTime", "dtEventTimeStamp", "localTime"].into();
    let mut plans = Vec::new();
    let before = chrono::Utc::now().timestamp_millis();
    for id in CASES {
        let case = &cases[*id];
        // One record per line: pretty-printed JSON is sent with its newlines as spaces (the
        // same JSON), and verify is asked about exactly that record.
        let msg = case.msg.replace(['\n', '\r'], " ");
        let conf: Value = serde_json::from_str(&case.conf).unwrap();
        // BKData's default timezone is 8; configs give it as a number or a string.
        let tz = match &conf["conf"]["timezone"] {
            Value::Number(n) => n.as_i64().unwrap(),
            Value::String(s) => s.trim().parse().unwrap(),
            _ => 8,
        };
        let timed = conf["conf"]["time_field_name"].is_string();
        let v = verify(&srv, &case.conf, &msg).await;
        assert!(!v.rows.is_empty(), "{id}: verify shows no row");
        // The stored fields: all but the iteration index and the verify time column.
        let keep: Vec<usize> = (0..v.schema.len())
            .filter(|&i| v.schema[i].0 != "_iteration_idx" && !(timed && i + 1 == v.schema.len()))
            .collect();
        let mut seen = BTreeSet::new();
        for &i in &keep {
            let n = v.schema[i].0.as_str();
            assert!(
                seen.insert(n) && !stored_names.contains(n) && n != "timestamp",
                "{id}: field {n} is not storable as is; pick another case"
            );
        }
        let name = format!("c{}", &id[7..]);
        // The table's fields, and `timestamp` as bklog declares it.
        let mut fields: Vec<Value> = keep
            .iter()
            .enumerate()
            .map(|(k, &i)| {
                json!({"field_name": v.schema[i].0, "field_type": v.schema[i].1, "field_alias": v.schema[i].0,
                       "is_dimension": false, "field_index": k + 1})
            })
            .collect();
        fields.push(
            json!({"field_name": "timestamp", "field_type": "long", "field_alias": "time",
                           "is_dimension": false, "field_index": keep.len() + 1}),
        );
        let raw = srv
            .bk_ok(
                Method::POST,
                "/v3/access/rawdata/",
                Some(json!({"bk_biz_id": 2, "raw_data_name": name})),
            )
            .await;
        let raw_id = raw["raw_data_id"].as_i64().unwrap();
        let clean = srv
            .bk_ok(
                Method::POST,
                "/v3/databus/cleans/",
                Some(json!({
                "raw_data_id": raw_id, "result_table_name": name, "result_table_name_alias": name,
                "bk_biz_id": 2, "json_config": case.conf, "fields": fields})),
            )
            .await;
        let rt = clean["result_table_id"].as_str().unwrap().to_string();
        srv.bk_ok(Method::POST, "/v3/databus/data_storages/", Some(json!({
            "bk_biz_id": 2, "raw_data_id": raw_id, "data_type": "clean", "result_table_name": name,
            "result_table_name_alias": name, "storage_type": "postgresql", "expires": "7d", "fields": fields})))
            .await;
        srv.bk_ok(
            Method::POST,
            "/v3/databus/tasks/",
            Some(json!({"result_table_id": rt, "storages": ["kafka", "postgresql"]})),
        )
        .await;
        let (status, body) = srv.ingest(raw_id, json!([msg]).to_string()).await;
        assert_eq!(status, 200, "{id}: {body}");
        plans.push((*id, name, v, keep, tz, timed));
    }

    let pgc = pg(&srv).await;
    for (id, name, v, keep, tz, timed) in &plans {
        let table = format!("mapleleaf_2.{name}_2");
        let want = v.rows.len() as i64;
        let count_sql = format!("SELECT count(*) FROM {table}");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let n: Option<i64> = pgc.query_one(&count_sql, &[]).await.ok().map(|r| r.get(0));
            if n >= Some(want) {
                break;
            }
            if std::time::Instant::now() > deadline {
                let rt = format!("2_{name}");
                let clean = srv
                    .bk(Method::GET, &format!("/v3/databus/cleans/{rt}/"), None)
                    .await
                    .1;
                let errors = srv
                    .bk(
                        Method::GET,
                        &format!("/v3/databus/cleans/list_errors/?processing_id={rt}"),
                        None,
                    )
                    .await
                    .1;
                let task = srv
                    .bk(Method::GET, &format!("/v3/databus/tasks/{rt}/"), None)
                    .await
                    .1;
                panic!("{id}: {n:?} of {want} rows stored\nclean {clean}\nerrors {errors}\ntask {task}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let after = chrono::Utc::now().timestamp_millis();
        let stored: Vec<String> = pgc
            .query(&format!("SELECT row_to_json(t)::text FROM {table} t"), &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(stored.len(), v.rows.len(), "{id}: {stored:?}");
        let names: Vec<String> = v.schema.iter().map(|(n, _)| n.clone()).collect();
        let shown = conformance::zip_rows(&names, &v.rows, &BTreeSet::new());
        // Rows of one record may be stored in any order: match each shown row to one stored.
        let mut left: Vec<BTreeMap<String, Box<RawValue>>> = stored
            .iter()
            .map(|s| serde_json::from_str(s).unwrap())
            .collect();
        for (r, row) in shown.iter().enumerate() {
            let at = left.iter().position(|st| {
                let cell = |k: &str| st.get(k).map(|raw| conformance::cell(raw, None));
                let fields_match = keep.iter().all(|&i| {
                    let (n, ty) = &v.schema[i];
                    cell(n).is_some_and(|c| same(ty, &c, &row[n]))
                });
                let ms = match cell("dtEventTimeStamp") {
                    Some(Cell::Int(s)) => s.parse::<i64>().unwrap(),
                    _ => return false,
                };
                let time_match = if *timed {
                    let shown_ms = match &row[names.last().unwrap()] {
                        Cell::Int(s) => s.parse::<i64>().unwrap(),
                        other => panic!("{id}: verify time {other:?}"),
                    };
                    ms == shown_ms
                } else {
                    (before..=after).contains(&ms)
                };
                time_match
                    && cell("timestamp") == Some(Cell::Int((ms.div_euclid(1000)).to_string()))
                    && cell("dtEventTime") == Some(Cell::Str(civil(ms, *tz)))
                    && matches!(cell("localTime"), Some(Cell::Str(s)) if s.len() == 19)
                    && fields_match
            });
            match at {
                Some(i) => {
                    left.remove(i);
                }
                None => panic!(
                    "{id}: verify row {r} {row:?} is not stored; stored rows:\n{}",
                    stored.join("\n")
                ),
            }
        }
    }
}
