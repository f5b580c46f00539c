//! Issue 18's acceptance: every case of `../shared/conformance/bkbase-etl/cases.jsonl` (BKData's
//! own Java ETL engine on bk-base's test cases) through `POST /v3/databus/cleans/verify/`,
//! compared as `bkdata_tests::conformance` describes. A mismatch fails unless
//! `docs/CONFORMANCE.md` lists the case as a reasoned deviation, and a listed case that now
//! matches fails too (the list must stay true). `ETL_CONFORMANCE_SHOW=1` prints every case,
//! `ETL_CONFORMANCE_DUMP=bkbase-009` one case's answers.
use bkdata_tests::conformance::{self, Answer};
use bkdata_tests::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread")]
async fn verify_answers_as_bkdata_java_etl() {
    let srv = TestServer::start().await;
    let cases = conformance::load();
    assert!(cases.len() >= 196, "{} cases", cases.len());
    let listed = conformance::listed_deviations();
    let show = std::env::var("ETL_CONFORMANCE_SHOW").is_ok();
    let (mut matched, mut deviations, mut unlisted, mut stale) = (0, 0, Vec::new(), Vec::new());
    for case in &cases {
        let r = srv
            .client
            .post(srv.url("/v3/databus/cleans/verify/"))
            .header("X-Bkapi-Authorization", srv.auth_header())
            .json(&json!({"conf": case.conf, "msg": case.msg}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}: BKData answers HTTP 200", case.id);
        let text = r.text().await.unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        let answer: Answer = if v["result"] == true {
            // The data object's text, numbers as sent.
            #[derive(serde::Deserialize)]
            struct Env<'a> {
                #[serde(borrow)]
                data: &'a serde_json::value::RawValue,
            }
            let env: Env = serde_json::from_str(&text).unwrap();
            Ok(env.data.get().to_string())
        } else {
            assert_eq!(v["code"], "1570001", "{}: {v}", case.id);
            Err(v["message"].as_str().unwrap_or("").to_string())
        };
        if std::env::var("ETL_CONFORMANCE_DUMP").is_ok_and(|id| id == case.id) {
            println!("{}: ours {answer:?}\nexpected {:?}", case.id, case.expected);
        }
        let diff = conformance::compare(case, &answer);
        let is_listed = listed.contains(&case.id);
        match (&diff, is_listed) {
            (None, false) => matched += 1,
            (None, true) => stale.push(case.id.clone()),
            (Some(_), true) => deviations += 1,
            (Some(d), false) => unlisted.push(format!("{}: {d}", case.id)),
        }
        if show {
            println!("{} {}", case.id, diff.as_deref().unwrap_or("match"));
        }
    }
    let total = cases.len();
    println!(
        "{matched} of {total} cases match BKData outright ({:.1} %), {deviations} listed deviations, {} unlisted mismatches",
        100.0 * matched as f64 / total as f64,
        unlisted.len()
    );
    assert!(
        unlisted.is_empty(),
        "{} mismatches not in docs/CONFORMANCE.md:\n{}",
        unlisted.len(),
        unlisted.join("\n")
    );
    assert!(
        stale.is_empty(),
        "listed in docs/CONFORMANCE.md but now matching (remove them): {stale:?}"
    );
    assert!(
        matched * 100 >= total * 95,
        "{matched} of {total} match: the target is 95 %"
    );
}
