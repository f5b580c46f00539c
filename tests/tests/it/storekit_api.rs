//! Storage clusters over HTTP: the default PostgreSQL cluster, registration per type, secrets
//! never returned (and kept on update), errors naming the supported types.
use bkdata_tests::*;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread")]
async fn clusters_with_hidden_secrets() {
    let srv = TestServer::start().await;
    // Out of the box: the platform's own PostgreSQL.
    let (_, v) = srv
        .bk(Method::GET, "/v3/storekit/clusters/postgresql/", None)
        .await;
    let list = v["data"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{v}");
    assert_eq!(list[0]["cluster_name"], "default-postgresql");
    assert_eq!(list[0]["is_default"], true);
    assert_eq!(list[0]["connection_info"]["host"], "127.0.0.1");

    // Register MariaDB (tspider, as seed 004's storage node names it), Redis and a queue.
    let (_, v) = srv
        .bk(Method::POST, "/v3/storekit/clusters/", Some(json!({"cluster_name": "yyy-lasting", "cluster_type": "tspider",
            "connection_info": {"host": "127.0.0.1", "port": 3306, "user": "root", "password": "hunter2", "database": "bkdata"}})))
        .await;
    assert_eq!(v["result"], true, "{v}");
    assert_eq!(v["data"]["connection_info"]["password"], "******");
    assert_eq!(v["data"]["has_password"], true);
    assert!(!v.to_string().contains("hunter2"));
    let (_, v) = srv
        .bk(
            Method::POST,
            "/prod/v3/storekit/clusters/",
            Some(json!({"cluster_name": "cache", "cluster_type": "redis",
            "connection_info": "{\"host\": \"127.0.0.1\", \"port\": 6379}"})),
        )
        .await;
    assert_eq!(v["result"], true, "connection_info as a JSON string: {v}");
    let (_, v) = srv
        .bk(
            Method::POST,
            "/v3/storekit/clusters/",
            Some(json!({"cluster_name": "bus", "cluster_type": "queue"})),
        )
        .await;
    assert_eq!(v["result"], true, "{v}");

    // Nothing anywhere shows the secret.
    let (_, all) = srv.bk(Method::GET, "/v3/storekit/clusters/", None).await;
    // Those three, default-postgresql and default-alert (both created at start).
    assert_eq!(all["data"].as_array().unwrap().len(), 5);
    assert!(!all.to_string().contains("hunter2"));

    // Update without the password, and with the mask sent back: the stored secret stays.
    let (_, v) = srv
        .bk(Method::PUT, "/v3/storekit/clusters/tspider/yyy-lasting/", Some(json!({"connection_info": {"host": "127.0.0.1", "port": 3307, "user": "root", "password": "******"}})))
        .await;
    assert_eq!(v["data"]["connection_info"]["port"], 3307, "{v}");
    {
        use bkdata_models::schema::storage_clusters as s;
        use diesel::prelude::*;
        let stored: Value = s::table
            .find("yyy-lasting")
            .select(s::connection)
            .first(&mut srv.db.conn())
            .unwrap();
        assert_eq!(
            stored["password"], "hunter2",
            "kept, not overwritten by the mask"
        );
    }

    // Errors: unknown type (naming the supported ones), missing host, bad port, duplicate, default.
    let cases = [
        (
            json!({"cluster_name": "x", "cluster_type": "hbase", "connection_info": {}}),
            "1500400",
            "postgresql, mysql, tspider, redis, es, queue",
        ),
        (
            json!({"cluster_name": "x", "cluster_type": "mysql", "connection_info": {"port": 3306, "user": "u"}}),
            "1500400",
            "host",
        ),
        (
            json!({"cluster_name": "x", "cluster_type": "redis", "connection_info": {"host": "h", "port": 70000}}),
            "1500400",
            "port",
        ),
        (
            json!({"cluster_name": "cache", "cluster_type": "redis", "connection_info": {"host": "h", "port": 1}}),
            "1500005",
            "exists",
        ),
        (
            json!({"cluster_name": "_bad", "cluster_type": "redis", "connection_info": {"host": "h", "port": 1}}),
            "1500400",
            "cluster_name",
        ),
    ];
    for (body, code, says) in cases {
        let (_, v) = srv
            .bk(Method::POST, "/v3/storekit/clusters/", Some(body))
            .await;
        assert_eq!(v["code"], code, "{v}");
        assert!(v.to_string().contains(says), "{says}: {v}");
    }
    let (_, v) = srv
        .bk(
            Method::DELETE,
            "/v3/storekit/clusters/postgresql/default-postgresql/",
            None,
        )
        .await;
    assert_eq!(v["code"], "1500400", "{v}");
    let (_, v) = srv
        .bk(Method::DELETE, "/v3/storekit/clusters/redis/cache/", None)
        .await;
    assert_eq!(v["data"]["deleted"], true);
    let (s, v) = srv
        .bk(Method::GET, "/v3/storekit/clusters/redis/cache/", None)
        .await;
    assert_eq!((s, v["code"].clone()), (200, json!("1500004")));
}
