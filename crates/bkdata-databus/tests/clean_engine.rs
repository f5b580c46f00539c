//! The clean engine on real log lines, good and bad, through `CleanPlan` and `verify`.
#![recursion_limit = "256"]
use bkdata_databus::etl::{verify, CleanPlan, ErrorKind};
use serde_json::{json, Value};

const INGEST: i64 = 1_795_329_052_000; // 2026-11-22 14:30:52 +08:00

/// The rows of a record that must clean without a failure.
fn rows(plan: &CleanPlan, line: &str) -> Vec<Vec<Value>> {
    let out = plan.clean(line.as_bytes(), INGEST);
    if let Some(f) = &out.failure {
        panic!("{}: {}", f.label, f.error);
    }
    out.rows_json()
}

/// The failure of a record that must fail (it may still keep rows).
fn failure(plan: &CleanPlan, line: &[u8]) -> (String, ErrorKind, String) {
    let out = plan.clean(line, INGEST);
    match out.failure {
        Some(f) => (f.label, f.error.kind, f.error.to_string()),
        None => panic!("expected a failure, got {:?}", out.rows),
    }
}

fn verify_json(conf: &str, msg: &str) -> Value {
    serde_json::from_str(&verify(conf, msg, INGEST).unwrap()).unwrap()
}

fn col(plan: &CleanPlan, name: &str) -> usize {
    plan.schema()
        .iter()
        .rposition(|f| f.name == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

/// bklog's bk_log_json shape over the GSE envelope (wire reference §3.2).
fn gse_json_config() -> String {
    json!({
        "extract": {
            "type": "fun", "method": "from_json", "label": "label_json", "result": "json_data",
            "next": {"type": "branch", "label": null, "next": [
                {"type": "access", "subtype": "access_obj", "label": "label_items", "key": "items", "result": "items",
                 "next": {"type": "fun", "method": "iterate", "label": "label_iter", "args": [], "result": "item",
                   "next": {"type": "branch", "label": "label_item_branch", "next": [
                     {"type": "access", "subtype": "access_obj", "label": "label_data", "key": "data",
                      "next": {"type": "fun", "method": "from_json", "label": "label_data_json",
                        "next": {"type": "assign", "subtype": "assign_obj", "label": "label_user", "assign": [
                          {"key": "level", "assign_to": "level", "type": "string"},
                          {"key": "cost", "assign_to": "cost", "type": "double"},
                          {"key": "code", "assign_to": "code", "type": "int"},
                          {"key": "event_time", "assign_to": "event_time", "type": "string"}]}}}]}}},
                {"type": "assign", "subtype": "assign_obj", "label": "label_builtin", "assign": [
                    {"key": "serverIp", "assign_to": "ip", "type": "string"},
                    {"key": "path", "assign_to": "filename", "type": "string"},
                    {"key": "gseIndex", "assign_to": "gseindex", "type": "long"}]},
                {"type": "assign", "subtype": "assign_json", "label": "label_ext",
                 "assign": [{"key": "ext", "assign_to": "ext", "type": "text"}]}
            ]}
        },
        "conf": {"time_format": "yyyy-MM-dd HH:mm:ss", "timezone": 8, "time_field_name": "event_time",
                 "output_field_name": "timestamp", "timestamp_len": 0, "encoding": "UTF-8"}
    })
    .to_string()
}

const GSE_LINE: &str = r#"{"serverIp":"10.0.0.8","path":"/var/log/app.log","gseIndex":42,"ext":{"env":"prod"},"items":[{"data":"{\"level\":\"ERROR\",\"cost\":\"12.5\",\"code\":500,\"event_time\":\"2026-11-22 14:30:00\"}"},{"data":"{\"level\":\"INFO\",\"cost\":3,\"code\":\"200\",\"event_time\":\"2026-11-22 14:30:01\"}"}]}"#;

#[test]
fn bk_log_json_over_the_gse_envelope() {
    let plan = CleanPlan::compile(&gse_json_config()).unwrap();
    let names: Vec<&str> = plan.schema().iter().map(|f| f.name.as_str()).collect();
    // BKData's order: the top level's fields, then the iterated level's (with its index).
    assert_eq!(
        names,
        [
            "ip",
            "filename",
            "gseindex",
            "ext",
            "level",
            "cost",
            "code",
            "event_time",
            "_iteration_idx",
            "dtEventTime",
            "dtEventTimeStamp",
            "localTime",
            "timestamp"
        ]
    );
    let r = rows(&plan, GSE_LINE);
    assert_eq!(r.len(), 2, "one row per item");
    assert_eq!(r[0][col(&plan, "level")], "ERROR");
    assert_eq!(r[0][col(&plan, "cost")], 12.5);
    assert_eq!(r[0][col(&plan, "code")], 500);
    assert_eq!(r[1][col(&plan, "code")], 200);
    assert_eq!(r[1][col(&plan, "_iteration_idx")], 2);
    // Fields assigned beside the iteration are in every row.
    for row in &r {
        assert_eq!(row[col(&plan, "ip")], "10.0.0.8");
        assert_eq!(row[col(&plan, "gseindex")], 42);
        assert_eq!(row[col(&plan, "ext")], "{\"env\":\"prod\"}");
        assert_eq!(row[col(&plan, "localTime")], "2026-11-22 14:30:52");
    }
    assert_eq!(r[0][col(&plan, "dtEventTime")], "2026-11-22 14:30:00");
    assert_eq!(r[0][col(&plan, "dtEventTimeStamp")], 1_795_329_000_000i64);
    assert_eq!(r[0][col(&plan, "timestamp")], 1_795_329_000i64);
}

#[test]
fn bad_lines_fail_at_the_right_node_with_bkdata_names() {
    let plan = CleanPlan::compile(&gse_json_config()).unwrap();
    let cases: Vec<(&[u8], &str, ErrorKind)> = vec![
        (b"{\"items\": [", "label_json", ErrorKind::BadJsonObject),
        (b"[1,2,3]", "label_json", ErrorKind::BadJsonObject),
        (b"{\"serverIp\":\"x\"}", "label_items", ErrorKind::AccessByKeyFailed),
        (b"{\"items\": 5}", "label_iter", ErrorKind::NotListData),
        (b"{\"items\": [{\"nodata\": 1}]}", "label_data", ErrorKind::AccessByKeyFailed),
        (b"{\"items\": [{\"data\": \"not json\"}]}", "label_data_json", ErrorKind::BadJsonObject),
        (br#"{"items": [{"data": "{\"code\": \"five\", \"event_time\": \"2026-11-22 14:30:00\"}"}]}"#, "label_user", ErrorKind::TypeConversion),
        (br#"{"items": [{"data": "{\"code\": 1, \"event_time\": \"22/11/2026\"}"}]}"#, "conf.time_field_name(event_time)", ErrorKind::TimeFormat),
        (b"{\"items\": [null]}", "label_iter", ErrorKind::NulData),
    ];
    for (line, label, kind) in cases {
        let (l, k, msg) = failure(&plan, line);
        assert_eq!(
            (l.as_str(), k),
            (label, kind),
            "{}: {msg}",
            String::from_utf8_lossy(line)
        );
        assert!(msg.starts_with(kind.name()), "{msg}");
    }
    // A failed cast keeps the row with a null field and still counts the record as bad.
    let line = br#"{"items": [{"data": "{\"code\": \"five\", \"event_time\": \"2026-11-22 14:30:00\"}"}]}"#;
    let out = plan.clean(line, INGEST);
    assert_eq!(out.rows.len(), 1);
    assert_eq!(out.rows_json()[0][col(&plan, "code")], Value::Null);
    // An empty list is no rows and no error; one bad item of two is skipped.
    let out = plan.clean(b"{\"items\": []}", INGEST);
    assert!(out.rows.is_empty() && out.failure.is_none(), "{out:?}");
    let two = br#"{"items": [{"data": "oops"}, {"data": "{\"level\": \"x\", \"event_time\": \"2026-11-22 14:30:00\"}"}]}"#;
    let out = plan.clean(two, INGEST);
    assert_eq!(out.rows.len(), 1);
    assert_eq!(out.failure.unwrap().label, "label_data_json");
    // Bytes that are not UTF-8 are read with replacement characters, as Java decodes them.
    let out = plan.clean(b"{\"serverIp\": \"\xff\", \"items\": []}", INGEST);
    assert!(out.failure.is_none());
}

#[test]
fn nginx_access_log_with_regex_and_apache_time() {
    let cfg = json!({
        "extract": {"type": "fun", "method": "regex_extract", "label": "re",
            "args": [{"result": "m", "keys": ["ip", "time", "method", "path", "status", "bytes"],
                      "regexp": r#"^(?<ip>\S+) \S+ \S+ \[(?<time>[^\]]+)\] "(?<method>[A-Z]+) (?<path>\S+) [^"]*" (?<status>\d{3}) (?<bytes>\d+|-)"#}],
            "next": {"type": "assign", "subtype": "assign_obj", "label": "a", "assign": [
                {"key": "ip", "assign_to": "client_ip"}, {"key": "time", "assign_to": "log_time"},
                {"key": "method", "assign_to": "method"}, {"key": "path", "assign_to": "path"},
                {"key": "status", "assign_to": "status", "type": "int"}, {"key": "bytes", "assign_to": "bytes", "type": "long"}]}},
        "conf": {"time_field_name": "log_time", "time_format": "dd/MMM/yyyy:HH:mm:ss Z", "timestamp_len": 0, "timezone": 8}
    });
    let plan = CleanPlan::compile(&cfg.to_string()).unwrap();
    let line = r#"203.0.113.9 - - [22/Nov/2026:14:30:52 +0800] "GET /api/v1/items?id=3 HTTP/1.1" 200 5123 "-" "curl/8.0""#;
    let r = rows(&plan, line);
    assert_eq!(r[0][col(&plan, "client_ip")], "203.0.113.9");
    assert_eq!(r[0][col(&plan, "status")], 200);
    assert_eq!(r[0][col(&plan, "bytes")], 5123);
    assert_eq!(r[0][col(&plan, "dtEventTimeStamp")], INGEST);
    // Not matching, and a "-" where a number is expected.
    // No match: the fields are null (BKData keeps going), so the time field fails.
    assert_eq!(
        failure(&plan, b"garbage line"),
        (
            "conf.time_field_name(log_time)".to_string(),
            ErrorKind::TimeFormat,
            "TimeFormatError: the time field is null".to_string()
        )
    );
    let dash = r#"203.0.113.9 - - [22/Nov/2026:14:30:52 +0800] "GET / HTTP/1.1" 304 - "-" "x""#;
    let (label, kind, _) = failure(&plan, dash.as_bytes());
    assert_eq!((label.as_str(), kind), ("a", ErrorKind::TypeConversion));
}

fn delimiter_plan() -> CleanPlan {
    let cfg = json!({
        "extract": {"type": "fun", "method": "split", "label": "sp", "args": ["|"],
            "next": {"type": "assign", "subtype": "assign_pos", "label": "pos", "assign": [
                {"index": "0", "assign_to": "ts", "type": "long"}, {"index": "1", "assign_to": "host"},
                {"index": "2", "assign_to": "cpu", "type": "double"}, {"index": "3", "assign_to": "mem", "type": "int"}]}},
        "conf": {"time_field_name": "ts", "timestamp_len": 10, "timezone": 8}
    });
    CleanPlan::compile(&cfg.to_string()).unwrap()
}

#[test]
fn delimiter_lines_short_and_long() {
    let plan = delimiter_plan();
    let r = rows(&plan, "1795329052|web-1|37.5|2048");
    assert_eq!(r[0][col(&plan, "host")], "web-1");
    assert_eq!(r[0][col(&plan, "cpu")], 37.5);
    assert_eq!(r[0][col(&plan, "dtEventTime")], "2026-11-22 14:30:52");
    // A short line leaves the missing positions null; extra columns are ignored.
    let r = rows(&plan, "1795329052|web-2");
    assert_eq!(r[0][col(&plan, "cpu")], Value::Null);
    assert_eq!(
        rows(&plan, "1795329052|h|1|2|extra|more")[0][col(&plan, "mem")],
        2
    );
    // An empty time column is null (blank numbers are null in BKData): the time fails.
    assert_eq!(failure(&plan, b"").1, ErrorKind::TimeFormat);
    let (label, kind, msg) = failure(&plan, b"|web-3|1|2");
    assert_eq!(
        (label.as_str(), kind),
        ("conf.time_field_name(ts)", ErrorKind::TimeFormat),
        "{msg}"
    );
    assert_eq!(
        failure(&plan, b"1795329052|h|high|2").1,
        ErrorKind::TypeConversion
    );
}

#[test]
fn every_other_operator() {
    let cfg = json!({
        "extract": {"type": "fun", "method": "from_json", "label": "j", "next": {"type": "branch", "label": "b", "next": [
            {"type": "access", "subtype": "access_obj", "label": "csv_in", "key": "csv",
             "next": {"type": "fun", "method": "csvline", "label": "csv",
               "next": {"type": "assign", "subtype": "assign_pos", "label": "csv_a", "assign": [{"index": 1, "assign_to": "csv_second"}]}}},
            {"type": "access", "subtype": "access_obj", "label": "kv_in", "key": "kv",
             "next": {"type": "fun", "method": "splitkv", "label": "kv", "args": ["&", "="],
               "next": {"type": "assign", "subtype": "assign_obj", "label": "kv_a", "assign": [{"key": "user", "assign_to": "kv_user"}]}}},
            {"type": "access", "subtype": "access_obj", "label": "url_in", "key": "url",
             "next": {"type": "fun", "method": "from_url", "label": "url",
               "next": {"type": "assign", "subtype": "assign_obj", "label": "url_a", "assign": [{"key": "q", "assign_to": "url_q"}]}}},
            {"type": "access", "subtype": "access_obj", "label": "rep_in", "key": "msg",
             "next": {"type": "fun", "method": "replace", "label": "rep", "args": ["ERROR", "E", "WARN", "W"],
               "next": {"type": "assign", "subtype": "assign_value", "label": "rep_a", "assign": {"assign_to": "short_msg", "type": "string"}}}},
            {"type": "fun", "method": "zip", "label": "zip", "args": ["names", "values"],
             "next": {"type": "access", "subtype": "access_pos", "label": "zip0", "index": 0,
               "next": {"type": "assign", "subtype": "assign_pos", "label": "zip_a", "assign": [{"index": 0, "assign_to": "first_name"}, {"index": 1, "assign_to": "first_value", "type": "int"}]}}},
            {"type": "access", "subtype": "access_obj", "label": "names_in", "key": "names",
             "next": {"type": "fun", "method": "pop", "label": "pop",
               "next": {"type": "assign", "subtype": "assign_pos", "label": "pop_a", "assign": [{"index": 0, "assign_to": "after_pop"}]}}},
            {"type": "access", "subtype": "access_multi", "label": "multi", "keys": "host,port,absent", "separator": ":",
             "next": {"type": "assign", "subtype": "assign_value", "label": "multi_a", "assign": {"assign_to": "endpoint"}}},
            {"type": "access", "subtype": "access_obj", "label": "list_in", "key": "list_str",
             "next": {"type": "fun", "method": "from_json_list", "label": "list",
               "next": {"type": "fun", "method": "to_string", "label": "tostr",
                 "next": {"type": "assign", "subtype": "assign_value", "label": "list_a", "assign": {"assign_to": "list_text", "type": "text"}}}}},
            {"type": "access", "subtype": "access_obj", "label": "opt", "key": "missing", "default_type": "int", "default_value": "7",
             "next": {"type": "assign", "subtype": "assign_value", "label": "opt_a", "assign": {"assign_to": "with_default", "type": "int"}}},
            {"type": "assign", "subtype": "assign_json", "label": "all", "assign": [{"key": "__all_keys__", "assign_to": "raw", "type": "text"}]},
            {"type": "access", "subtype": "access_obj", "label": "tags_in", "key": "tags",
             "next": {"type": "fun", "method": "items", "label": "items", "args": ["tag"],
               "next": {"type": "assign", "subtype": "assign_value", "label": "item_a", "assign": {"assign_to": "tag_value"}}}}
        ]}}
    });
    let plan = CleanPlan::compile(&cfg.to_string()).unwrap();
    let line = json!({
        "csv": "a,\"b,c\",d", "kv": "user=alice&&role=admin", "url": "q=hello%20world&x=1",
        "msg": "ERROR then WARN", "tags": {"zone": "gz", "rack": "r1"}, "names": ["n1", "n2"], "values": ["10", "20"],
        "host": "db1", "port": 5432, "list_str": "[1, 2.5]"
    })
    .to_string();
    let r = rows(&plan, &line);
    assert_eq!(r.len(), 2, "one row per tag");
    let get = |n: &str| r[0][col(&plan, n)].clone();
    assert_eq!(get("csv_second"), "b,c");
    assert_eq!(get("kv_user"), "alice");
    assert_eq!(get("url_q"), "hello world");
    assert_eq!(get("short_msg"), "E then W");
    assert_eq!(
        (get("first_name"), get("first_value")),
        (json!("n1"), json!(10))
    );
    assert_eq!(get("after_pop"), "n2");
    // Missing keys are skipped; values print as Java prints them.
    assert_eq!(get("endpoint"), "db1:5432");
    assert_eq!(get("list_text"), "[1, 2.5]");
    assert_eq!(get("with_default"), 7);
    assert!(get("raw")
        .as_str()
        .unwrap()
        .contains("\"kv\":\"user=alice&&role=admin\""));
    // Items iterate the map (Java's HashMap order) with the key in its own field.
    let tags: Vec<(Value, Value)> = r
        .iter()
        .map(|row| {
            (
                row[col(&plan, "tag")].clone(),
                row[col(&plan, "tag_value")].clone(),
            )
        })
        .collect();
    assert_eq!(
        tags,
        [(json!("rack"), json!("r1")), (json!("zone"), json!("gz"))]
    );
    // No conf: the event time is the ingest time.
    assert_eq!(get("dtEventTimeStamp"), INGEST);

    // Bad inputs per operator.
    let bad = |patch: Value| {
        let mut v: Value = serde_json::from_str(&line).unwrap();
        for (k, x) in patch.as_object().unwrap() {
            v[k] = x.clone();
        }
        failure(&plan, v.to_string().as_bytes())
    };
    let (label, kind, _) = bad(json!({"csv": "\"unterminated"}));
    assert_eq!((label.as_str(), kind), ("csv", ErrorKind::BadCsvData));
    assert_eq!(bad(json!({"url": "q=%ZZ"})).1, ErrorKind::UrlDecode);
    assert_eq!(bad(json!({"tags": "not a map"})).1, ErrorKind::NotMapData);
    assert_eq!(bad(json!({"tags": {}})).1, ErrorKind::EmptyEtlResult);
    assert_eq!(bad(json!({"names": []})).1, ErrorKind::AccessByIndexFailed);
    assert_eq!(
        bad(json!({"list_str": "{\"a\":1}"})).1,
        ErrorKind::BadJsonList
    );
    assert_eq!(bad(json!({"msg": null})).1, ErrorKind::AccessByKeyFailed);
    // A node that cannot take its input records an error (verify shows it) and assigns
    // nothing; BKData keeps the row and does not count the record as bad.
    let mut v: Value = serde_json::from_str(&line).unwrap();
    v["msg"] = json!(5);
    let out = plan.clean(v.to_string().as_bytes(), INGEST);
    assert!(out.failure.is_none());
    assert_eq!(out.rows_json()[0][col(&plan, "short_msg")], Value::Null);
    let answer = verify_json(&cfg.to_string(), &v.to_string());
    assert_eq!(
        answer["errors"]["rep"],
        "TypeConversionError: Integer -> String"
    );
}

#[test]
fn verify_answers_per_node() {
    let out = verify_json(&gse_json_config(), GSE_LINE);
    assert_eq!(out["result"].as_array().unwrap().len(), 2);
    assert_eq!(out["schema"][0], "ip(string)");
    assert_eq!(out["schema"][5], "cost(double)");
    assert_eq!(out["schema"][9], "timestamp(int)");
    assert_eq!(out["display"][0], "user_field");
    assert_eq!(out["display"][8], "hidden");
    assert_eq!(out["display"][9], "inter_field");
    // The verify row: epoch milliseconds, the iteration index, no stored time columns.
    assert_eq!(out["result"][1][8], 2);
    assert_eq!(out["result"][1][9], 1_795_329_001_000i64);
    assert_eq!(out["nodes"]["label_items"].as_array().unwrap().len(), 2);
    assert_eq!(out["output_type"]["label_json"]["type"], "HashMap");
    assert_eq!(out["output_type"]["label_iter"]["type"], "LinkedHashMap");
    assert_eq!(out["output_type"]["label_data"]["type"], "String");
    assert_eq!(out["nodes"]["label_builtin"]["ip"], "10.0.0.8");
    // A node run once per item shows a list of its values.
    assert_eq!(out["nodes"]["label_user"].as_array().unwrap().len(), 2);
    assert_eq!(out["errors"], json!({}));
    assert_eq!(out["error_message"], "");
    assert!(out["json_config_extract"]
        .as_str()
        .unwrap()
        .contains("label_json"));

    // A bad sample: the failing node is named, and the other branches still show their values.
    let bad = r#"{"serverIp":"10.0.0.8","path":"/p","gseIndex":"x","items":[{"data":"{oops"}]}"#;
    let out = verify_json(&gse_json_config(), bad);
    assert_eq!(out["result"], json!([]));
    assert!(
        out["errors"]["label_data_json"]
            .as_str()
            .unwrap()
            .starts_with("BadJsonObjectError: "),
        "{out}"
    );
    assert_eq!(out["nodes"]["label_ext"], json!({"ext": "null"}));
    assert_eq!(out["nodes"]["label_builtin"]["gseindex"], Value::Null);
    // A time that does not parse: the row is dropped and error_message says why.
    let late = GSE_LINE.replace("2026-11-22 14:30:01", "later");
    let out = verify_json(&gse_json_config(), &late);
    assert_eq!(out["result"].as_array().unwrap().len(), 1);
    assert_eq!(
        out["error_message"],
        "TimeFormatError: later -> (yyyy-MM-dd HH:mm:ss)!"
    );
}

#[test]
fn configs_build_as_bkdata_builds_them() {
    let err = |cfg: Value| CleanPlan::compile(&cfg.to_string()).unwrap_err().0;
    let assign = json!({"type": "assign", "subtype": "assign_value", "label": "a", "assign": {"assign_to": "x"}});
    // A node of unknown method is no node: the record then fails, as in BKData.
    let plan = CleanPlan::compile(
        &json!({"extract": {"type": "fun", "method": "explode", "label": "boom", "next": assign}})
            .to_string(),
    )
    .unwrap();
    assert!(plan.clean(b"x", INGEST).rows.is_empty());
    // A node without next: verify says AssignNodeNeededError at that node.
    let conf = json!({"extract": {"type": "fun", "method": "from_json", "label": "j"}}).to_string();
    assert!(CleanPlan::compile(&conf).is_ok());
    assert_eq!(
        verify_json(&conf, "{}")["errors"]["j"],
        "AssignNodeNeededError"
    );
    // A bare root node (no extract wrapper) is the config.
    let plan = CleanPlan::compile(&assign.to_string()).unwrap();
    assert_eq!(rows(&plan, "hello")[0][col(&plan, "x")], "hello");
    let e = err(
        json!({"extract": {"type": "fun", "method": "regex_extract", "label": "r", "args": [{"regexp": "(?<a>x"}], "next": assign}}),
    );
    assert!(e.contains("node r") && e.contains("invalid regexp"), "{e}");
    let e = err(
        json!({"extract": {"type": "fun", "method": "regex_extract", "label": "r", "args": [{"regexp": "(?P<a>x)"}], "next": assign}}),
    );
    assert!(e.contains("PatternSyntaxException"), "{e}");
    let e = err(
        json!({"extract": assign.clone(), "conf": {"time_field_name": "nope", "time_format": "yyyy"}}),
    );
    assert!(e.contains("time_field_name \"nope\""), "{e}");
    let e = err(
        json!({"extract": assign.clone(), "conf": {"time_field_name": "x", "timestamp_len": 0, "time_format": ""}}),
    );
    assert!(e.contains("time_format"), "{e}");
    let e = err(
        json!({"extract": assign.clone(), "calculate": [{"assign_var": "v", "assign_type": "int",
        "expr": {"type": "fun", "method": "map", "args": ["t", "c", "k", "k"]}}]}),
    );
    assert_eq!(e, "can not find config of cc cache");
    // An unknown field type casts every value to null.
    let plan = CleanPlan::compile(
        &json!({"extract": {"type": "assign", "subtype": "assign_value", "label": "a", "assign": {"assign_to": "x", "type": "blob"}}})
            .to_string(),
    )
    .unwrap();
    assert_eq!(rows(&plan, "v")[0][col(&plan, "x")], Value::Null);
    assert!(CleanPlan::compile(
        &json!({"extract": assign.clone(), "conf": {"time_field_name": "localTime", "encoding": "GBK", "timezone": 5.5}}).to_string()
    )
    .is_ok());
    assert!(CleanPlan::compile("{not json")
        .unwrap_err()
        .0
        .contains("not valid JSON"));
}

#[test]
fn projected_parse_agrees_with_the_whole_parse() {
    let json_cfg = json!({"extract": {"type": "fun", "method": "from_json", "label": "j",
        "next": {"type": "assign", "subtype": "assign_obj", "label": "a", "assign": [
            {"key": "ts", "assign_to": "ts", "type": "long"}, {"key": "name", "assign_to": "name"},
            {"key": "n", "assign_to": "n", "type": "int"}, {"key": "x", "assign_to": "x", "type": "double"},
            {"key": "obj", "assign_to": "obj", "type": "text"}, {"key": "caf\u{e9}", "assign_to": "cafe"}]}},
        "conf": {"time_field_name": "ts", "timestamp_len": 13}});
    let json_plan = CleanPlan::compile(&json_cfg.to_string()).unwrap();
    let mut json_lines: Vec<Vec<u8>> = [
        r#"{"ts": 1795329052000, "name": "a", "n": 1, "x": 1.5, "obj": {"k": [1, 2]}, "café": "yes"}"#,
        r#"{"ts": "1795329052000", "name": "esc \" \\ \u00e9", "n": "42", "x": "2", "caf\u00e9": "escaped key", "other": [1, {"deep": null}]}"#,
        r#"{"ts": 1795329052000, "name": null, "n": null, "x": null, "obj": null}"#,
        r#"{"ts": 1795329052000, "name": 5, "n": true}"#,
        r#"{"ts": 1795329052000, "n": 1.5}"#,
        r#"{"ts": 1795329052000, "n": 99999999999}"#,
        r#"{"ts": 1795329052000, "x": 18446744073709551615, "name": ["list"]}"#,
        r#"{"ts": 1795329052000, "name": "first", "name": "second"}"#,
        r#"{"ts": 1795329052000} trailing"#,
        r#"[{"ts": 1}]"#,
        r#""just a string""#,
        r#"{"ts": "#,
        "",
        r#"{"name": "no time"}"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    json_lines.push(b"{\"ts\": 1795329052000, \"name\": \"\xff\"}".to_vec());
    let delim_plan = delimiter_plan();
    let delim_lines: Vec<Vec<u8>> = [
        "1795329052|web-1|37.5|2048",
        "1795329052|web-1",
        "1795329052|||",
        "1795329052|h|1|2|extra|more",
        "1795329052| spaced |  3.5 | 7 ",
        "",
        "|web|1|2",
        "1795329052|h|x|2",
        "1795329052|h|1|99999999999",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    // bklog's envelope (`from_json → branch` of by-key reads, streamed) around a JSON log line.
    use bkdata_databus::etl::bklog::{self, BklogField, EtlParams};
    let fields: Vec<BklogField> = serde_json::from_value(json!([
        {"field_name": "level", "field_type": "keyword"},
        {"field_name": "code", "field_type": "integer"},
        {"field_name": "ip", "field_type": "keyword"},
    ]))
    .unwrap();
    let params = EtlParams {
        retain_original_text: true,
        ..Default::default()
    };
    let env_plan = bklog::compile("bk_log_json", &params, &fields).unwrap();
    let env_lines: Vec<Vec<u8>> = [
        r#"{"serverIp": "10.0.0.1", "path": "/a.log", "gseIndex": 7, "utctime": "2026-11-22 06:30:52", "items": [{"data": "{\"level\": \"INFO\", \"code\": 200}"}]}"#,
        // Two items, extra keys, cloudId as a string, ext present, the user's ip wins.
        r#"{"cloudId": "3", "bk_host_id": 9, "ext": {"k": [1, "v"]}, "serverIp": "10.0.0.2", "path": "/b.log", "gseIndex": 8, "utctime": "2026-11-22 06:30:53", "noise": {"x": [null]}, "items": [{"data": "{\"level\": \"WARN\", \"code\": \"404\", \"ip\": \"1.2.3.4\"}"}, {"data": "{\"code\": 5}", "iterationIndex": 1}]}"#,
        // Duplicate keys: the last one counts.
        r#"{"serverIp": "a", "serverIp": "b", "utctime": "2026-11-22 06:30:52", "items": [{"data": "{}"}], "items": [{"data": "{\"code\": 1}"}]}"#,
        r#"{"utctime": "2026-11-22 06:30:52", "items": []}"#,
        r#"{"utctime": "2026-11-22 06:30:52"}"#,
        r#"{"utctime": "2026-11-22 06:30:52", "items": null}"#,
        r#"{"utctime": "2026-11-22 06:30:52", "items": {"data": "{}"}}"#,
        r#"{"utctime": "2026-11-22 06:30:52", "gseIndex": "x", "items": [{"data": "{}"}]}"#,
        r#"{"utctime": "2026-11-22 06:30:52", "cloudId": 1.5, "items": [{"data": "{}"}]}"#,
        r#"{"utctime": "2026-11-22 06:30:52", "items": [{"data": "not json"}]}"#,
        r#"{"utctime": "2026-11-22 06:30:52", "items": [{"data": "{\"code\": \"x\"}"}]}"#,
        r#"{"utctime": "2026-11-22 06:30:52", "items": [{"nodata": 1}]}"#,
        r#"{"utctime": "not a time", "items": [{"data": "{}"}]}"#,
        r#"{"items": [{"data": "{}"}]}"#,
        r#"{"utctime": "2026-11-22 06:30:52", "items": [{"data": "{}"}]} trailing"#,
        r#"[1, 2]"#,
        r#"{"utctime": "#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    let mut successes = 0;
    for (plan, lines) in [
        (&json_plan, &json_lines),
        (&delim_plan, &delim_lines),
        (&env_plan, &env_lines),
    ] {
        // One scratch for every line, forwards then backwards: a record that reuses the rows
        // and strings of a record of another shape still gives the rows a fresh clean gives.
        let mut scratch = bkdata_databus::etl::Scratch::default();
        for line in lines.iter().chain(lines.iter().rev()) {
            let fresh = plan.clean(line, INGEST);
            let failure = plan.clean_into(line, INGEST, &mut scratch);
            let text = String::from_utf8_lossy(line);
            assert_eq!(scratch.rows(), fresh.rows.as_slice(), "reused: {text}");
            assert_eq!(failure, fresh.failure, "reused: {text}");
        }
        for line in lines {
            let text = String::from_utf8_lossy(line);
            let fast = plan.clean(line, INGEST);
            let general = plan.clean_general(line, INGEST);
            assert_eq!(fast.rows, general.rows, "{text}");
            let key = |o: &bkdata_databus::etl::Outcome| {
                o.failure.as_ref().map(|f| (f.label.clone(), f.error.kind))
            };
            assert_eq!(key(&fast), key(&general), "{text}");
            if !fast.rows.is_empty() && fast.failure.is_none() {
                successes += 1;
            }
        }
    }
    // Both kinds of outcome were compared.
    assert!(successes >= 12, "{successes}");
}

#[test]
fn gbk_configs_decode_their_records() {
    let conf = |enc: &str| {
        CleanPlan::compile(
            &json!({"extract": {"type": "fun", "method": "from_json", "label": "j",
                "next": {"type": "assign", "subtype": "assign_obj", "label": "a", "assign": [
                    {"key": "msg", "assign_to": "msg", "type": "string"}]}},
                "conf": {"time_field_name": "localTime", "encoding": enc}})
            .to_string(),
        )
        .unwrap()
    };
    // {"msg":"中文"} in GBK: 中 is D6 D0, 文 is CE C4.
    let mut gbk = b"{\"msg\":\"".to_vec();
    gbk.extend([0xD6, 0xD0, 0xCE, 0xC4]);
    gbk.extend(b"\"}");
    let out = conf("GBK").clean(&gbk, INGEST);
    assert!(out.failure.is_none(), "{:?}", out.failure);
    assert_eq!(out.rows_json()[0][0], "中文");
    // The same bytes under UTF-8 are not valid: each bad byte reads as U+FFFD, as Java's does.
    let out = conf("UTF8").clean(&gbk, INGEST);
    assert_eq!(out.rows_json()[0][0], "\u{FFFD}".repeat(4));
    assert!(CleanPlan::compile(
        &json!({"extract": {"type": "assign", "subtype": "assign_obj", "assign": [{"key": "a", "assign_to": "a"}]},
            "conf": {"time_field_name": "localTime", "encoding": "latin1"}})
        .to_string()
    )
    .is_err());
}
