//! bklog's four ETL types on GSE envelope lines, good and bad.
use bkdata_databus::etl::bklog::{self, BklogField, EtlParams};
use bkdata_databus::etl::{CleanPlan, ErrorKind};
use serde_json::{json, Value};

const INGEST: i64 = 1_795_329_052_000;

fn envelope(datas: &[&str]) -> String {
    json!({
        "serverIp": "10.0.0.8", "path": "/data/log/app.log", "gseIndex": 7, "cloudId": 0, "bk_host_id": 12,
        "utctime": "2026-11-22 06:30:52", "__ext": {"pod": "web-0"},
        "items": datas.iter().map(|d| json!({"data": d, "iterationIndex": 0})).collect::<Vec<_>>()
    })
    .to_string()
}

fn fields(v: Value) -> Vec<BklogField> {
    serde_json::from_value(v).unwrap()
}

/// Rows by column name (a name twice: the later column, as BKData reads a row by name).
fn rows(plan: &CleanPlan, line: &str) -> Vec<serde_json::Map<String, Value>> {
    let out = plan.clean(line.as_bytes(), INGEST);
    if let Some(f) = &out.failure {
        panic!("{}: {}", f.label, f.error);
    }
    out.rows_json()
        .into_iter()
        .map(|r| {
            plan.schema()
                .iter()
                .map(|f| f.name.clone())
                .zip(r)
                .collect()
        })
        .collect()
}

fn fails(plan: &CleanPlan, line: &str) -> (String, ErrorKind) {
    let out = plan.clean(line.as_bytes(), INGEST);
    match out.failure {
        Some(f) => (f.label, f.error.kind),
        None => panic!("expected failure: {:?}", out.rows),
    }
}

#[test]
fn text() {
    let plan = bklog::compile("bk_log_text", &EtlParams::default(), &[]).unwrap();
    let r = rows(&plan, &envelope(&["first line", "second line"]));
    assert_eq!(r.len(), 2);
    assert_eq!(r[1]["log"], "second line");
    assert_eq!(r[1]["iterationindex"], 0, "the item's own iterationIndex");
    assert_eq!(r[1]["_iteration_idx"], 2);
    assert_eq!(r[0]["ip"], "10.0.0.8");
    assert_eq!(r[0]["filename"], "/data/log/app.log");
    assert_eq!(r[0]["bk_host_id"], 12);
    assert_eq!(r[0]["ext"], "{\"pod\":\"web-0\"}");
    // utctime (UTC) is the event time: 06:30:52Z is 14:30:52 at +08:00.
    assert_eq!(r[0]["dtEventTimeStamp"], INGEST);
    assert_eq!(fails(&plan, "not an envelope").1, ErrorKind::BadJsonObject);
    let mut no_time: Value = serde_json::from_str(&envelope(&["x"])).unwrap();
    no_time.as_object_mut().unwrap().remove("utctime");
    assert_eq!(fails(&plan, &no_time.to_string()).1, ErrorKind::TimeFormat);
}

#[test]
fn json_with_a_time_field_and_original_text() {
    let f = fields(json!([
        {"field_name": "level", "field_type": "keyword"},
        {"field_name": "cost", "alias_name": "cost_ms", "field_type": "double"},
        {"field_name": "code", "field_type": "integer"},
        {"field_name": "detail", "field_type": "object"},
        {"field_name": "dropped", "field_type": "keyword", "is_delete": true},
        {"field_name": "ts", "field_type": "keyword", "is_time": true, "option": {"time_format": "yyyy-MM-dd HH:mm:ss", "time_zone": 8}}
    ]));
    let params = EtlParams {
        retain_original_text: true,
        ..Default::default()
    };
    let plan = bklog::compile("bk_log_json", &params, &f).unwrap();
    let names: Vec<&str> = plan.schema().iter().map(|f| f.name.as_str()).collect();
    assert!(!names.contains(&"dropped"), "{names:?}");
    let good = r#"{"level": "ERROR", "cost_ms": "12.5", "code": 500, "detail": {"a": 1}, "ts": "2026-11-22 14:30:00"}"#;
    let r = rows(&plan, &envelope(&[good]));
    assert_eq!(r[0]["level"], "ERROR");
    assert_eq!(r[0]["cost"], 12.5);
    assert_eq!(r[0]["code"], 500);
    assert_eq!(r[0]["detail"], "{\"a\":1}");
    assert_eq!(r[0]["log"], good);
    assert_eq!(r[0]["dtEventTimeStamp"], INGEST - 52_000);
    assert_eq!(
        fails(&plan, &envelope(&["{broken"])),
        ("bk_json".into(), ErrorKind::BadJsonObject)
    );
    let bad_type = r#"{"code": "five", "ts": "2026-11-22 14:30:00"}"#;
    assert_eq!(
        fails(&plan, &envelope(&[bad_type])),
        ("bk_json_fields".into(), ErrorKind::TypeConversion)
    );
    let bad_time = r#"{"code": 1, "ts": "yesterday"}"#;
    assert_eq!(
        fails(&plan, &envelope(&[bad_time])).1,
        ErrorKind::TimeFormat
    );
}

#[test]
fn delimiter() {
    let f = fields(json!([
        {"field_name": "ts", "field_type": "long", "field_index": 1, "is_time": true, "option": {"time_format": "epoch_second"}},
        {"field_name": "host", "field_type": "keyword", "field_index": 2},
        {"field_name": "skip", "field_type": "keyword", "field_index": 3, "is_delete": true},
        {"field_name": "cpu", "field_type": "double", "field_index": 4}
    ]));
    let params = EtlParams {
        separator: Some("|".into()),
        ..Default::default()
    };
    let plan = bklog::compile("bk_log_delimiter", &params, &f).unwrap();
    let r = rows(
        &plan,
        &envelope(&["1795329052|web-1|ignored|37.5", "1795329053|web-2"]),
    );
    assert_eq!(r[0]["host"], "web-1");
    assert_eq!(r[0]["cpu"], 37.5);
    assert_eq!(r[0]["dtEventTimeStamp"], INGEST);
    // A short line: the missing column is null.
    assert_eq!(r[1]["cpu"], Value::Null);
    assert_eq!(
        fails(&plan, &envelope(&["soon|web|x|1"])),
        ("bk_delimiter_fields".into(), ErrorKind::TypeConversion)
    );
    assert!(
        bklog::compile("bk_log_delimiter", &EtlParams::default(), &f)
            .unwrap_err()
            .0
            .contains("separator")
    );
}

#[test]
fn regexp_with_python_groups() {
    let f = fields(json!([
        {"field_name": "ip", "field_type": "keyword"},
        {"field_name": "status", "field_type": "integer"},
        {"field_name": "path", "field_type": "keyword"}
    ]));
    let params = EtlParams {
        separator_regexp: Some(r#"^(?P<ip>\S+) "GET (?P<path>\S+)" (?P<status>\d+)$"#.into()),
        ..Default::default()
    };
    let plan = bklog::compile("bk_log_regexp", &params, &f).unwrap();
    let r = rows(&plan, &envelope(&[r#"203.0.113.9 "GET /x" 404"#]));
    // The user's ip overrides the envelope's serverIp column of the same name.
    assert_eq!(r[0]["ip"], "203.0.113.9");
    assert_eq!(r[0]["status"], 404);
    // No match keeps the row, its fields null (as BKData does).
    let r = rows(&plan, &envelope(&["nothing like it"]));
    assert_eq!(
        (r[0]["status"].clone(), r[0]["path"].clone()),
        (Value::Null, Value::Null)
    );
    let bad = EtlParams {
        separator_regexp: Some("(?P<ip>".into()),
        ..Default::default()
    };
    assert!(bklog::compile("bk_log_regexp", &bad, &f)
        .unwrap_err()
        .0
        .contains("invalid regexp"));
}

#[test]
fn unknown_etl_type_names_the_supported_ones() {
    let e = bklog::compile("bk_log_yaml", &EtlParams::default(), &[])
        .unwrap_err()
        .0;
    for t in bklog::ETL_TYPES {
        assert!(e.contains(t), "{e}");
    }
    assert_eq!(bklog::bkdata_type("keyword"), "string");
    assert_eq!(bklog::bkdata_type("nested"), "text");
    assert_eq!(bklog::bkdata_type("integer"), "int");
}
