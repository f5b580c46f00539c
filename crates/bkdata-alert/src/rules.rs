//! The builder's rules (wire reference §5.2–5.3) on one `dedupe_md5`: the open alert (if
//! any) and the events in arrival order give the alerts to write, each event's outcome and
//! the alert logs. Pure: the store loads and saves around it.
use crate::doc::Doc;
use crate::event::{Event, ABNORMAL, CLOSED, EXPIRE_SECS, RECOVERED};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// An alert no event touches for this long closes (`next_status`).
pub const CLOSE_AFTER_SECS: i64 = 3600;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = bkdata_models::schema::alerts)]
pub struct Alert {
    pub id: String,
    pub seq: i64,
    pub bk_app_code: String,
    pub dedupe_md5: String,
    pub strategy_id: Option<i64>,
    pub alert_name: String,
    pub bk_biz_id: String,
    pub status: String,
    pub severity: i32,
    pub event_severity: i32,
    pub begin_time: i64,
    pub latest_time: i64,
    pub first_anomaly_time: i64,
    pub end_time: Option<i64>,
    pub create_time: i64,
    pub update_time: i64,
    pub next_status: Option<String>,
    pub next_status_time: Option<i64>,
    /// The latest event's document.
    pub event: Doc,
    /// Its tags with display names (`[{key, value, display_key, display_value}]`).
    pub dimensions: Doc,
    pub event_count: i64,
    pub is_ack: bool,
    pub ack_operator: Option<String>,
    pub bk_tenant_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Created,
    Updated,
    Recovered,
    Closed,
    /// Less severe than the open alert's event (`EVENT_DROP`).
    Dropped,
    /// Older than the open alert's latest event: only moves `begin_time` back.
    Stale,
    /// Older than 24 h, or than the last alert's end minus 60 s: saved, builds nothing.
    Expired,
    /// Not ABNORMAL and no open alert.
    NoAlert,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Recovered => "recovered",
            Outcome::Closed => "closed",
            Outcome::Dropped => "dropped",
            Outcome::Stale => "stale",
            Outcome::Expired => "expired",
            Outcome::NoAlert => "no_alert",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Log {
    pub alert_id: String,
    pub op_type: &'static str,
    pub description: String,
    pub event_id: Option<String>,
    pub time: i64,
}

/// What one `dedupe_md5` group gives.
#[derive(Debug, Default)]
pub struct Applied {
    /// Touched alerts in write order: alerts closed here come before the ones created after.
    pub alerts: Vec<Alert>,
    /// Of those, the ids that are new.
    pub created: Vec<String>,
    /// (event id, outcome, alert id).
    pub outcomes: Vec<(String, Outcome, Option<String>)>,
    pub logs: Vec<Log>,
}

/// The alert's dimensions: its event's tags, with display names defaulting to the key/value.
fn dimensions(doc: &Map<String, Value>) -> Value {
    let tags = doc
        .get("tags")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Value::Array(
        tags.iter()
            .map(|t| {
                json!({
                    "key": t["key"], "value": t["value"],
                    "display_key": t.get("display_key").unwrap_or(&t["key"]),
                    "display_value": t.get("display_value").unwrap_or(&t["value"]),
                })
            })
            .collect(),
    )
}

/// An event's document for its alert (the clean wrote it: it parses).
fn event_doc(e: &Event) -> Doc {
    Doc::parse(&e.doc).unwrap_or_else(|_| Doc::of(&e.document()))
}

fn from_event(app: &str, e: &Event, id: String, seq: i64, now: i64) -> Alert {
    let doc = e.document();
    Alert {
        id,
        seq,
        bk_app_code: app.to_string(),
        dedupe_md5: e.dedupe_md5.clone(),
        strategy_id: e.strategy_id,
        alert_name: e.alert_name.clone(),
        bk_biz_id: e.bk_biz_id.clone(),
        status: ABNORMAL.into(),
        severity: e.severity,
        event_severity: e.severity,
        begin_time: e.time,
        latest_time: e.time,
        first_anomaly_time: e.anomaly_time,
        end_time: None,
        create_time: now,
        update_time: now,
        next_status: Some(CLOSED.into()),
        next_status_time: Some(now + CLOSE_AFTER_SECS),
        dimensions: Doc::of(&dimensions(&doc)),
        event_count: 1,
        is_ack: false,
        ack_operator: None,
        bk_tenant_id: doc
            .get("bk_tenant_id")
            .and_then(Value::as_str)
            .unwrap_or("system")
            .to_string(),
        event: event_doc(e),
    }
}

/// Apply `events` (one `dedupe_md5`, arrival order) to `open` (its ABNORMAL alert, if any).
/// `last_end` is the end time of its latest alert; `new_id` gives `(id, seq)` for a new one.
pub fn apply<E: std::borrow::Borrow<Event>>(
    app: &str,
    mut open: Option<Alert>,
    mut last_end: Option<i64>,
    events: &[E],
    now: i64,
    new_id: &mut dyn FnMut(i64) -> (String, i64),
) -> Applied {
    let mut out = Applied::default();
    let mut ended: Vec<Alert> = Vec::new();
    // The open alert's latest event, copied into it only when it is written (a pass may
    // update one alert with thousands of events).
    let mut latest: Option<&Event> = None;
    let settle = |a: &mut Alert, latest: &mut Option<&Event>| {
        if let Some(e) = latest.take() {
            a.event = event_doc(e);
        }
    };
    let log = |out: &mut Applied, a: &Alert, op: &'static str, d: String, e: Option<&Event>| {
        out.logs.push(Log {
            alert_id: a.id.clone(),
            op_type: op,
            description: d,
            event_id: e.map(|e| e.id.clone()),
            time: now,
        })
    };
    // A new alert from an ABNORMAL event, with its log and the event's outcome.
    let mut create = |out: &mut Applied, e: &Event| {
        let (id, seq) = new_id(now);
        let n = from_event(app, e, id, seq, now);
        log(
            out,
            &n,
            "CREATE",
            format!(
                "created from event {} (severity {})",
                e.event_id, e.severity
            ),
            Some(e),
        );
        out.created.push(n.id.clone());
        out.outcomes
            .push((e.id.clone(), Outcome::Created, Some(n.id.clone())));
        n
    };
    for e in events {
        let e: &Event = e.borrow();
        let expired = e.time < now - EXPIRE_SECS || last_end.is_some_and(|end| e.time < end - 60);
        if expired {
            out.outcomes.push((e.id.clone(), Outcome::Expired, None));
            continue;
        }
        match open.take() {
            Some(mut a) => {
                if a.severity > e.severity && e.status == ABNORMAL {
                    // A more severe event: the alert closes and a new one opens.
                    settle(&mut a, &mut latest);
                    a.status = CLOSED.into();
                    a.end_time = Some(now);
                    a.next_status = None;
                    a.next_status_time = None;
                    a.update_time = now;
                    log(
                        &mut out,
                        &a,
                        "CLOSE",
                        format!(
                            "closed: a more severe event (severity {}) arrived",
                            e.severity
                        ),
                        Some(e),
                    );
                    last_end = a.end_time;
                    ended.push(a);
                    open = Some(create(&mut out, e));
                } else if a.event_severity < e.severity {
                    out.outcomes
                        .push((e.id.clone(), Outcome::Dropped, Some(a.id.clone())));
                    open = Some(a);
                } else {
                    a.first_anomaly_time = a.first_anomaly_time.min(e.anomaly_time);
                    a.event_count += 1;
                    a.update_time = now;
                    if e.status == ABNORMAL {
                        if e.time < a.latest_time {
                            a.begin_time = a.begin_time.min(e.time);
                            out.outcomes
                                .push((e.id.clone(), Outcome::Stale, Some(a.id.clone())));
                        } else {
                            a.latest_time = e.time;
                            a.next_status_time = Some(now + CLOSE_AFTER_SECS);
                            latest = Some(e);
                            a.event_severity = e.severity;
                            a.severity = a.severity.min(e.severity);
                            out.outcomes
                                .push((e.id.clone(), Outcome::Updated, Some(a.id.clone())));
                        }
                        open = Some(a);
                    } else {
                        settle(&mut a, &mut latest);
                        a.status = e.status.clone();
                        a.end_time = Some(e.time);
                        a.next_status = None;
                        a.next_status_time = None;
                        let (op, outcome) = if e.status == RECOVERED {
                            ("RECOVER", Outcome::Recovered)
                        } else {
                            ("CLOSE", Outcome::Closed)
                        };
                        log(
                            &mut out,
                            &a,
                            op,
                            format!("{} by event {}", e.status.to_lowercase(), e.event_id),
                            Some(e),
                        );
                        out.outcomes
                            .push((e.id.clone(), outcome, Some(a.id.clone())));
                        last_end = a.end_time;
                        ended.push(a);
                    }
                }
            }
            None if e.status == ABNORMAL => open = Some(create(&mut out, e)),
            None => out.outcomes.push((e.id.clone(), Outcome::NoAlert, None)),
        }
    }
    // An alert may end and another open in one batch: the ended ones are written first. An
    // open alert that no event changed is not written.
    let changed = |id: &str| {
        out.outcomes.iter().any(|(_, o, a)| {
            a.as_deref() == Some(id) && !matches!(o, Outcome::Dropped | Outcome::Expired)
        })
    };
    let open = open.filter(|a| changed(&a.id)).map(|mut a| {
        settle(&mut a, &mut latest);
        a
    });
    let mut touched: Vec<Alert> = Vec::new();
    for a in ended.into_iter().chain(open) {
        if let Some(i) = touched.iter().position(|t| t.id == a.id) {
            touched[i] = a;
        } else {
            touched.push(a);
        }
    }
    out.alerts = touched;
    out
}

/// `{create_ts:0>10}{seq}`.
pub fn alert_id(create_ts: i64, seq: i64) -> String {
    format!("{create_ts:0>10}{seq}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::clean;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000;

    fn ev(n: u32, severity: i32, status: &str, time: i64) -> Event {
        clean(
            &json!({"event_id": format!("e{n}"), "alert_name": "cpu", "target": "h1", "bk_biz_id": 2,
                    "severity": severity, "status": status, "time": time}),
            NOW,
        )
        .unwrap()
    }

    fn ids() -> impl FnMut(i64) -> (String, i64) {
        let mut seq = 0;
        move |ts| {
            seq += 1;
            (alert_id(ts, seq), seq)
        }
    }

    #[test]
    fn the_builder_rules() {
        let mut new_id = ids();
        // A new ABNORMAL event opens an alert; the same severity updates it; an older one is
        // stale; a less severe one is dropped.
        let events = [
            ev(1, 2, ABNORMAL, NOW - 100),
            ev(2, 2, ABNORMAL, NOW - 50),
            ev(3, 2, ABNORMAL, NOW - 200),
            ev(4, 3, ABNORMAL, NOW - 40),
        ];
        let r = apply("app", None, None, &events, NOW, &mut new_id);
        let outcomes: Vec<Outcome> = r.outcomes.iter().map(|o| o.1).collect();
        assert_eq!(
            outcomes,
            [
                Outcome::Created,
                Outcome::Updated,
                Outcome::Stale,
                Outcome::Dropped
            ]
        );
        let a = r.alerts[0].clone();
        assert_eq!(a.id, "17000000001");
        assert_eq!(
            (a.begin_time, a.latest_time, a.event_count),
            (NOW - 200, NOW - 50, 3)
        );
        assert_eq!(
            (a.next_status.as_deref(), a.next_status_time),
            (Some(CLOSED), Some(NOW + 3600))
        );
        // A more severe event closes it and opens another; a recovery ends that one; a later
        // event older than that end minus 60 s is expired; a RECOVERED event alone builds nothing.
        let events = [
            ev(5, 1, ABNORMAL, NOW - 30),
            ev(6, 1, RECOVERED, NOW - 10),
            ev(7, 1, ABNORMAL, NOW - 80),
            ev(8, 1, RECOVERED, NOW - 5),
        ];
        let r = apply("app", Some(a.clone()), None, &events, NOW, &mut new_id);
        let outcomes: Vec<Outcome> = r.outcomes.iter().map(|o| o.1).collect();
        assert_eq!(
            outcomes,
            [
                Outcome::Created,
                Outcome::Recovered,
                Outcome::Expired,
                Outcome::NoAlert
            ]
        );
        assert_eq!(r.alerts.len(), 2);
        assert_eq!(
            (r.alerts[0].id.as_str(), r.alerts[0].status.as_str()),
            (a.id.as_str(), CLOSED)
        );
        assert_eq!(r.alerts[1].status, RECOVERED);
        assert_eq!(
            (r.alerts[1].severity, r.alerts[1].end_time),
            (1, Some(NOW - 10))
        );
        assert_eq!(r.created, [r.alerts[1].id.clone()]);
        let ops: Vec<&str> = r.logs.iter().map(|l| l.op_type).collect();
        assert_eq!(ops, ["CLOSE", "CREATE", "RECOVER"]);
        // Older than a day: expired, even with no alert.
        let r = apply(
            "app",
            None,
            None,
            &[ev(9, 1, ABNORMAL, NOW - 90_000)],
            NOW,
            &mut new_id,
        );
        assert_eq!(r.outcomes[0].1, Outcome::Expired);
        assert!(r.alerts.is_empty());
        // Only dropped events: the open alert is not rewritten.
        let r = apply(
            "app",
            Some(a.clone()),
            None,
            &[ev(10, 3, ABNORMAL, NOW)],
            NOW,
            &mut new_id,
        );
        assert!(r.alerts.is_empty());
    }
}
