//! The clean engine over HTTP: cleans/verify/, cleans/time_formats/ and bklog's v4 clean/debug/,
//! in BKData's envelope, through every root a client may use.
use bkdata_tests::*;
use serde_json::{json, Value};

fn gse_json_config() -> String {
    json!({
        "extract": {"type": "fun", "method": "from_json", "label": "label_json",
            "next": {"type": "branch", "label": "root", "next": [
                {"type": "access", "subtype": "access_obj", "label": "label_items", "key": "items",
                 "next": {"type": "fun", "method": "iterate", "label": "label_iter",
                   "next": {"type": "access", "subtype": "access_obj", "label": "label_data", "key": "data",
                     "next": {"type": "fun", "method": "from_json", "label": "label_data_json",
                       "next": {"type": "assign", "subtype": "assign_obj", "label": "label_user", "assign": [
                         {"key": "level", "assign_to": "level"}, {"key": "code", "assign_to": "code", "type": "int"}]}}}}},
                {"type": "assign", "subtype": "assign_obj", "label": "label_builtin",
                 "assign": [{"key": "serverIp", "assign_to": "ip"}]}]}},
        "conf": {"time_field_name": "localTime", "output_field_name": "timestamp", "timezone": 8}
    })
    .to_string()
}

async fn post(srv: &TestServer, path: &str, body: Value) -> (u16, Value) {
    let r = srv
        .client
        .post(srv.url(path))
        .header("X-Bkapi-Authorization", srv.auth_header())
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_answers_per_node_through_every_root() {
    let srv = TestServer::start().await;
    let msg =
        r#"{"serverIp": "10.0.0.8", "items": [{"data": "{\"level\": \"ERROR\", \"code\": 500}"}]}"#;
    for root in [
        "/v3",
        "/prod/v3",
        "/prod/v3/",
        "/api/c/compapi/data/v3",
        "/api/bk-base/prod/v3",
    ] {
        let (s, v) = post(
            &srv,
            &format!("{root}/databus/cleans/verify/"),
            json!({"conf": gse_json_config(), "msg": msg}),
        )
        .await;
        assert_eq!(s, 200, "{root}: {v}");
        assert_eq!(v["result"], true);
        assert_eq!(v["code"], "1500200");
        assert_eq!(v["message"], "ok");
        assert_eq!(v["errors"], Value::Null);
        let d = &v["data"];
        // BKData's verify row: the top level's fields, the iterated ones, the iteration
        // index, the event time in ms.
        assert_eq!(d["result"][0][0], "10.0.0.8", "{root}: {d}");
        assert_eq!(d["result"][0][1], "ERROR", "{root}: {d}");
        assert_eq!(d["result"][0][2], 500);
        assert_eq!(d["result"][0][3], 1);
        assert_eq!(d["schema"][0], "ip(string)");
        assert_eq!(d["schema"][4], "timestamp(int)");
        assert_eq!(d["output_type"]["label_iter"]["type"], "LinkedHashMap");
        assert_eq!(d["errors"], json!({}));
    }
    // Without the trailing slash, and conf as an object.
    let conf: Value = serde_json::from_str(&gse_json_config()).unwrap();
    let (s, v) = post(
        &srv,
        "/v3/databus/cleans/verify",
        json!({"conf": conf, "msg": msg}),
    )
    .await;
    assert_eq!((s, v["result"].clone()), (200, json!(true)), "{v}");

    // A bad sample: still result=true (the verify ran), errors keyed by node label.
    let (_, v) = post(&srv, "/v3/databus/cleans/verify/", json!({"conf": gse_json_config(), "msg": r#"{"serverIp": "x", "items": [{"data": "{oops"}]}"#})).await;
    assert_eq!(v["result"], true);
    assert!(
        v["data"]["errors"]["label_data_json"]
            .as_str()
            .unwrap()
            .starts_with("BadJsonObjectError"),
        "{v}"
    );
    assert_eq!(v["data"]["result"], json!([]));
    assert_eq!(v["data"]["nodes"]["label_builtin"], json!({"ip": "x"}));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_configs_and_requests_get_bkdata_errors() {
    let srv = TestServer::start().await;
    let bad_conf =
        json!({"extract": {"type": "fun", "method": "regex_extract", "label": "boom", "args": [{"regexp": "(?P<x>a)"}]}}).to_string();
    let (s, v) = post(
        &srv,
        "/v3/databus/cleans/verify/",
        json!({"conf": bad_conf, "msg": "x"}),
    )
    .await;
    assert_eq!(s, 200, "BKData answers errors with HTTP 200");
    assert_eq!(v["result"], false);
    assert_eq!(v["code"], "1570001");
    assert_eq!(v["data"], Value::Null);
    assert!(
        v["errors"]["conf"][0].as_str().unwrap().contains("boom"),
        "{v}"
    );
    let (_, v) = post(&srv, "/v3/databus/cleans/verify/", json!({"conf": "{}"})).await;
    assert_eq!(
        (v["result"].clone(), v["code"].clone()),
        (json!(false), json!("1500400")),
        "{v}"
    );
    assert!(v["message"].as_str().unwrap().contains("msg"), "{v}");
    assert!(v["errors"]["msg"].is_array(), "{v}");
    let r = srv
        .client
        .post(srv.url("/v3/databus/cleans/verify/"))
        .header("X-Bkapi-Authorization", srv.auth_header())
        .body("{nope")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["result"].clone(), v["code"].clone()),
        (json!(false), json!("1500400")),
        "{v}"
    );
    // No credentials: 401 in BKData's envelope, whatever the root.
    let r = srv
        .client
        .post(srv.url("/prod/v3/databus/cleans/verify/"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "1511401");
}

#[tokio::test(flavor = "multi_thread")]
async fn time_formats_and_v4_debug() {
    let srv = TestServer::start().await;
    let r = srv
        .client
        .get(srv.url("/v3/databus/cleans/time_formats/"))
        .header("X-Bkapi-Authorization", srv.auth_header())
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let list = v["data"].as_array().unwrap();
    assert!(list
        .iter()
        .any(|f| f["time_format_name"] == "yyyy-MM-dd HH:mm:ss" && f["timestamp_len"] == 0));
    assert!(list.iter().any(|f| f["timestamp_len"] == 13));
    assert!(list
        .iter()
        .all(|f| f["time_format_alias"].is_string() && f["time_format_example"].is_string()));

    // bklog's etl_preview_v4 shape: one rule from __raw_data to bk_separator_object.
    let (s, v) = post(&srv, "/api/bk-base/prod/v4/databus/clean/debug/", json!({
        "input": "2026-11-22 14:30:52|web-1|ERROR",
        "rules": [{"input_id": "__raw_data", "output_id": "bk_separator_object", "operator": {"type": "split_str", "delimiter": "|"}}],
        "filter_rules": []
    }))
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["result"], true, "{v}");
    assert_eq!(
        v["data"]["rules_output"][0]["value"],
        json!(["2026-11-22 14:30:52", "web-1", "ERROR"])
    );
    assert_eq!(
        v["data"]["rules_output"][0]["key_index"][1],
        json!({"type": "index", "value": 1})
    );
    let (_, v) = post(
        &srv,
        "/v4/databus/clean/debug/",
        json!({"input": "x", "rules": [{"operator": {"type": "teleport"}}]}),
    )
    .await;
    assert_eq!(
        (v["result"].clone(), v["code"].clone()),
        (json!(false), json!("1570001")),
        "{v}"
    );
}
