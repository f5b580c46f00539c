//! Projects over HTTP (`/v3/meta/projects/`): create, list, get, result-table grants, what a
//! project may read, and another app seeing none of it.
use bkdata_tests::seed000::raw_and_clean;
use bkdata_tests::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn projects_and_grants() {
    let srv = TestServer::start().await;
    let (_, own_rt) = raw_and_clean(&srv, 2, "proc").await;
    let (_, other_rt) = raw_and_clean(&srv, 3, "other").await;
    assert_eq!((own_rt.as_str(), other_rt.as_str()), ("2_proc", "3_other"));

    let p = srv
        .bk_ok(
            Method::POST,
            "/v3/meta/projects/",
            Some(json!({"project_name": "demo", "description": "tutorial", "bk_biz_id": 2})),
        )
        .await;
    let id = p["project_id"].as_i64().unwrap();
    assert_eq!(
        (p["project_name"].as_str(), p["bk_biz_id"].as_i64()),
        (Some("demo"), Some(2))
    );
    assert_eq!(p["created_by"], "tester");
    let list = srv.bk_ok(Method::GET, "/prod/v3/meta/projects", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let got = srv
        .bk_ok(Method::GET, &format!("/v3/meta/projects/{id}/"), None)
        .await;
    assert_eq!(got["project_id"], id);

    // Bad input, each in the BKData envelope naming the field.
    let (_, v) = srv
        .bk(
            Method::POST,
            "/v3/meta/projects/",
            Some(json!({"project_name": "demo"})),
        )
        .await;
    assert_eq!(
        (v["result"].as_bool(), v["code"].as_str()),
        (Some(false), Some("1500005")),
        "{v}"
    );
    let (_, v) = srv
        .bk(
            Method::POST,
            "/v3/meta/projects/",
            Some(json!({"description": "x"})),
        )
        .await;
    assert!(v["errors"]["project_name"].is_array(), "{v}");
    let (_, v) = srv
        .bk(
            Method::POST,
            "/v3/meta/projects/",
            Some(json!({"project_name": "b", "bk_biz_id": "two"})),
        )
        .await;
    assert!(v["errors"]["bk_biz_id"].is_array(), "{v}");
    let (s, v) = srv.bk(Method::GET, "/v3/meta/projects/nope/", None).await;
    assert_eq!((s, v["code"].as_str()), (200, Some("1500004")), "{v}");

    // Grants: the tutorial's prerequisite. Granting twice is fine.
    let add = format!("/v3/meta/projects/{id}/data/add/");
    let g = srv
        .bk_ok(
            Method::POST,
            &add,
            Some(json!({"bk_biz_id": 3, "result_table_id": "3_other"})),
        )
        .await;
    assert_eq!(
        (g["result_table_id"].as_str(), g["bk_biz_id"].as_i64()),
        (Some("3_other"), Some(3))
    );
    srv.bk_ok(
        Method::POST,
        &add,
        Some(json!({"result_table_id": "3_other"})),
    )
    .await;
    let data = srv
        .bk_ok(Method::GET, &format!("/v3/meta/projects/{id}/data/"), None)
        .await;
    assert_eq!(data.as_array().unwrap().len(), 1, "{data}");
    let (_, v) = srv
        .bk(
            Method::POST,
            &add,
            Some(json!({"bk_biz_id": 9, "result_table_id": "3_other"})),
        )
        .await;
    assert!(
        v["message"].as_str().unwrap().contains("belongs to biz 3"),
        "{v}"
    );
    let (_, v) = srv
        .bk(
            Method::POST,
            &add,
            Some(json!({"result_table_id": "3_missing"})),
        )
        .await;
    assert!(v["errors"]["result_table_id"].is_array(), "{v}");

    // What the project reads: its biz's tables and the granted ones.
    let readable = |rt: &'static str| {
        let mut c = srv.db.conn();
        let project = bkdata_databus::projects::get(
            &mut c,
            &bkdata_models::auth::Caller::user("test-app", "tester"),
            id,
        )
        .unwrap();
        bkdata_databus::projects::readable(&mut c, &project, rt)
            .unwrap()
            .is_some()
    };
    assert!(readable("2_proc") && readable("3_other"));
    srv.bk_ok(
        Method::DELETE,
        &format!("/v3/meta/projects/{id}/data/3_other/"),
        None,
    )
    .await;
    assert!(readable("2_proc") && !readable("3_other"), "revoked");
    let (_, v) = srv
        .bk(
            Method::DELETE,
            &format!("/v3/meta/projects/{id}/data/3_other/"),
            None,
        )
        .await;
    assert_eq!(v["code"], "1500004", "{v}");

    // Another app sees no project of ours, cannot grant into one, nor grant our tables.
    let eve = srv.other_app("other-app");
    let (_, v) = srv
        .bk_as(&eve, Method::GET, "/v3/meta/projects/", None)
        .await;
    assert_eq!(v["data"], json!([]), "{v}");
    let (_, v) = srv
        .bk_as(&eve, Method::GET, &format!("/v3/meta/projects/{id}/"), None)
        .await;
    assert_eq!(v["code"], "1500004", "{v}");
    let (_, v) = srv
        .bk_as(
            &eve,
            Method::POST,
            &add,
            Some(json!({"result_table_id": "2_proc"})),
        )
        .await;
    assert_eq!(v["code"], "1500004", "{v}");
    let (_, v) = srv
        .bk_as(
            &eve,
            Method::POST,
            "/v3/meta/projects/",
            Some(json!({"project_name": "demo"})),
        )
        .await;
    let theirs = v["data"]["project_id"]
        .as_i64()
        .expect("the same name is fine for another app");
    let (_, v) = srv
        .bk_as(
            &eve,
            Method::POST,
            &format!("/v3/meta/projects/{theirs}/data/add/"),
            Some(json!({"result_table_id": "2_proc"})),
        )
        .await;
    assert!(v["message"].as_str().unwrap().contains("not yours"), "{v}");
}
