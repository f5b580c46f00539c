//! Unit tests of `event`.
use super::*;
use serde_json::json;

const NOW: i64 = 1_700_000_500;

/// Expected values: `python3 testdata/event_vectors.py` (bk-monitor's count_md5 over the
/// values each dedupe key reads after cleaning).
#[test]
fn dedupe_md5_and_ids_equal_bk_monitor() {
    let e1 = clean(
        &json!({"event_id": "e1", "plugin_id": "bk_monitor", "alert_name": "CPU使用率过高",
                "time": 1700000000, "severity": 2, "target_type": "host", "target": "10.0.0.1",
                "bk_biz_id": 2, "tags": [{"key": "host", "value": "server01"}],
                "dedupe_keys": ["alert_name", "tags.host", "ip"], "description": null}),
        NOW,
    )
    .unwrap();
    assert_eq!(
        e1.dedupe_keys,
        [
            "alert_name",
            "target_type",
            "target",
            "bk_biz_id",
            "tags.host",
            "ip"
        ]
    );
    assert_eq!(e1.dedupe_md5, "fcdd410bb6079535de0dce4b639300c8");
    assert_eq!(e1.id, "80e6e8fa889bfa034da4a7ce63a92715");
    assert!(
        !e1.document().contains_key("description"),
        "None values are dropped"
    );
    assert_eq!((e1.severity, e1.target_type.as_str()), (2, "HOST"));

    let e2 = clean(
        &json!({"event_id": "e2", "strategy_id": "42", "bk_biz_id": "2", "status": "RECOVERED",
                "time": "1700000000123", "tags": [{"key": "k", "value": {"b": 1.0, "a": "中"}}],
                "dedupe_keys": ["tags.k"]}),
        NOW,
    )
    .unwrap();
    assert_eq!(
        e2.document()["tags"][0]["value"],
        "{\"a\": \"\\u4e2d\", \"b\": 1.0}"
    );
    assert_eq!(e2.dedupe_md5, "c7f8f11ace5df2559451dbae7dc17ee2");
    assert_eq!(e2.id, "b2c5d3bcb99b109f510c6abf1b59c5d6");
    assert_eq!(
        (e2.strategy_id, e2.time, e2.severity),
        (Some(42), 1_700_000_000, 3)
    );

    let e3 = clean(
        &json!({"event_id": "e3", "plugin_id": "fta", "strategy_id": 7, "bk_biz_id": 3,
                "target_type": "K8S-POD", "target": "pod-1", "severity": 9, "time": 1700000100,
                "tags": {"l": [1, 2.5]}, "dedupe_keys": ["tags.l"]}),
        NOW,
    )
    .unwrap();
    assert_eq!(e3.dedupe_md5, "dd2c6ab9581535cdab1b0acc526109f1");
    assert_eq!(e3.id, "5828c23544ff4cbbbcc0b73ea6506a93");
    assert_eq!(e3.severity, 3, "clamped");
}

#[test]
fn defaults_and_rejections() {
    let e = clean(
        &json!({"alert_name": "x", "data_type": "metric", "category": "nope", "status": "weird"}),
        NOW,
    )
    .unwrap();
    assert_eq!(
        (
            e.time,
            e.status.as_str(),
            e.document()["data_type"].as_str(),
            e.document()["category"].as_str()
        ),
        (NOW, "ABNORMAL", Some("event"), Some("other_rt"))
    );
    assert_eq!(e.document()["bk_tenant_id"], "system");
    assert_eq!(
        clean(&json!({"alert_name": "x", "severity": 0}), NOW)
            .unwrap()
            .severity,
        1
    );
    for (bad, why) in [
        (json!({"severity": 1}), "alert_name or strategy_id"),
        (
            json!({"alert_name": "x", "severity": "critical"}),
            "unknown severity",
        ),
        (
            json!({"alert_name": "x", "time": "yesterday"}),
            "unparseable time",
        ),
        (json!({"alert_name": "x", "tags": "a=b"}), "tags"),
        (
            json!({"alert_name": "x", "tags": [{"key": "h", "value": "a\0b"}]}),
            "tags[0].value holds the NUL character",
        ),
        (json!({"alert_name": "x", "a\0": 1}), "a field name holds"),
        (json!("x"), "JSON object"),
    ] {
        let e = clean(&bad, NOW).unwrap_err();
        assert!(e.contains(why), "{bad}: {e}");
    }
    let t = clean(
        &json!({"alert_name": "x", "time": "2023-11-14T22:13:20Z"}),
        NOW,
    )
    .unwrap();
    assert_eq!(t.time, 1_700_000_000);
}

/// The clean reads the event's text, not a parsed tree: it must take what a tree would.
#[test]
fn the_text_is_read_as_a_parsed_map_would_be() {
    // A name given twice counts the last time; a name with escapes keeps them; values
    // not read are copied as they came (escapes included) and read back the same.
    let e = clean_text(
        r#"{"alert_name": "first", "a\"b": {"x": [1, 2.5, "\u4e2d"]}, "alert_name": "cpu",
            "note": null, "bk_tenant_id": "t1", "time": 1700000000}"#,
        NOW,
    )
    .unwrap();
    assert_eq!(e.alert_name, "cpu");
    let doc = e.document();
    assert_eq!(doc["alert_name"], "cpu");
    assert_eq!(doc["a\"b"], json!({"x": [1, 2.5, "中"]}));
    assert!(!doc.contains_key("note"), "None values are dropped");
    assert_eq!(doc["bk_tenant_id"], "t1", "a tenant given is kept");
    assert_eq!(e.doc.matches("\"alert_name\":").count(), 1, "{}", e.doc);
    // The same event as a parsed value cleans to the same event (the derived event id
    // included: a null is part of the event as received).
    let v: Value = serde_json::from_str(
        r#"{"alert_name": "cpu", "a\"b": {"x": [1, 2.5, "中"]}, "note": null, "bk_tenant_id": "t1", "time": 1700000000}"#,
    )
    .unwrap();
    let same = clean(&v, NOW).unwrap();
    assert_eq!((&same.id, &same.dedupe_md5), (&e.id, &e.dedupe_md5));
    assert_eq!(same.document(), doc);

    // What a parsed tree refuses is refused, event by event.
    for (bad, why) in [
        (r#"{"alert_name": "x", "v": 1e400}"#, "not valid JSON"),
        (r#"{"alert_name": "x", "v": ["\ud800"]}"#, "not valid JSON"),
        (r#"{"alert_name": "x", "v": "a\ud800"}"#, "not valid JSON"),
        (r#"{"alert_name": "x", "v": -1e999}"#, "not valid JSON"),
        (r#"{"alert_name": "x", "v": "a\u0000"}"#, "v holds the NUL"),
        (r#"{"alert_name": "x", "v\u0000": 1}"#, "a field name holds"),
        (
            r#"{"alert_name": "x", "extra": {"a": ["ok", "b\u0000"]}}"#,
            "extra.a[1] holds the NUL character",
        ),
        (r#"["alert_name"]"#, "JSON object"),
    ] {
        let e = clean_text(bad, NOW).unwrap_err();
        assert!(e.contains(why), "{bad}: {e}");
    }
    // An escaped backslash before `u0000` is text, not a NUL.
    let ok = clean_text(r#"{"alert_name": "x", "path": "C:\\u0000"}"#, NOW).unwrap();
    assert_eq!(ok.document()["path"], "C:\\u0000");
}
