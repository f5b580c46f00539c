//! The alert query API's reads and actions, scoped to the calling app: search alerts, an
//! alert's events and logs, close and acknowledge with the operator recorded.
use crate::event::{ABNORMAL, CLOSED, RECOVERED};
use crate::rules::Alert;
use crate::store::AlertError;
use bkdata_models::schema::{alert_events as ev, alert_logs as lg, alerts as al};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `GET alerts/` filters.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Search {
    /// Comma-separated: ABNORMAL, RECOVERED, CLOSED.
    pub status: Option<String>,
    /// Comma-separated: 1, 2, 3.
    pub severity: Option<String>,
    pub bk_biz_id: Option<String>,
    pub strategy_id: Option<String>,
    /// Created at or after / before, epoch seconds.
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    /// Text in the alert name or the dimensions.
    pub query: Option<String>,
    pub page: Option<String>,
    pub page_size: Option<String>,
    /// `create_time`, `severity`, `latest_time`, `begin_time`, `id`; `-` for descending.
    pub ordering: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertPage {
    pub total: i64,
    pub page: i64,
    pub page_size: i64,
    pub alerts: Vec<Alert>,
}

fn int(field: &str, v: &Option<String>) -> Result<Option<i64>, AlertError> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| {
            AlertError::field(field, format!("{field} must be an integer, got {s:?}"))
        }),
    }
}

fn list(v: &Option<String>) -> Vec<String> {
    v.as_deref()
        .unwrap_or("")
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

pub fn search(conn: &mut PgConnection, app: &str, f: &Search) -> Result<AlertPage, AlertError> {
    let statuses = list(&f.status);
    for s in &statuses {
        if ![ABNORMAL, RECOVERED, CLOSED].contains(&s.as_str()) {
            return Err(AlertError::field(
                "status",
                format!("unknown status {s:?}: ABNORMAL, RECOVERED or CLOSED"),
            ));
        }
    }
    let severities: Vec<i32> = list(&f.severity)
        .iter()
        .map(|s| match s.parse::<i32>() {
            Ok(n @ 1..=3) => Ok(n),
            _ => Err(AlertError::field(
                "severity",
                format!("unknown severity {s:?}: 1, 2 or 3"),
            )),
        })
        .collect::<Result<_, _>>()?;
    let page = int("page", &f.page)?.unwrap_or(1).max(1);
    let page_size = int("page_size", &f.page_size)?.unwrap_or(20);
    if !(1..=500).contains(&page_size) {
        return Err(AlertError::field(
            "page_size",
            "page_size must be from 1 to 500",
        ));
    }
    let strategy = int("strategy_id", &f.strategy_id)?;
    let (start, end) = (
        int("start_time", &f.start_time)?,
        int("end_time", &f.end_time)?,
    );
    let build = || {
        let mut q = al::table
            .filter(al::bk_app_code.eq(app.to_string()))
            .into_boxed();
        if !statuses.is_empty() {
            q = q.filter(al::status.eq_any(statuses.clone()));
        }
        if !severities.is_empty() {
            q = q.filter(al::severity.eq_any(severities.clone()));
        }
        if let Some(b) = f.bk_biz_id.as_deref().filter(|b| !b.is_empty()) {
            q = q.filter(al::bk_biz_id.eq(b.to_string()));
        }
        if let Some(s) = strategy {
            q = q.filter(al::strategy_id.eq(s));
        }
        if let Some(s) = start {
            q = q.filter(al::create_time.ge(s));
        }
        if let Some(e) = end {
            q = q.filter(al::create_time.le(e));
        }
        if let Some(text) = f.query.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let like = format!(
                "%{}%",
                text.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            q = q.filter(
                al::alert_name
                    .ilike(like.clone())
                    .or(
                        diesel::dsl::sql::<diesel::sql_types::Bool>("dimensions::text ILIKE ")
                            .bind::<diesel::sql_types::Text, _>(like),
                    ),
            );
        }
        q
    };
    let total: i64 = build().count().get_result(conn)?;
    let ordering = f.ordering.as_deref().unwrap_or("-create_time");
    let (desc, col) = match ordering.strip_prefix('-') {
        Some(c) => (true, c),
        None => (false, ordering),
    };
    let q = build();
    let q = match (col, desc) {
        ("create_time", true) => q.order((al::create_time.desc(), al::seq.desc())),
        ("create_time", false) => q.order((al::create_time.asc(), al::seq.asc())),
        ("severity", true) => q.order((al::severity.desc(), al::seq.desc())),
        ("severity", false) => q.order((al::severity.asc(), al::seq.desc())),
        ("latest_time", true) => q.order((al::latest_time.desc(), al::seq.desc())),
        ("latest_time", false) => q.order((al::latest_time.asc(), al::seq.asc())),
        ("begin_time", true) => q.order((al::begin_time.desc(), al::seq.desc())),
        ("begin_time", false) => q.order((al::begin_time.asc(), al::seq.asc())),
        ("id", true) => q.order(al::seq.desc()),
        ("id", false) => q.order(al::seq.asc()),
        _ => {
            return Err(AlertError::field(
                "ordering",
                format!("cannot order by {ordering:?}: create_time, severity, latest_time, begin_time or id, with - for descending"),
            ))
        }
    };
    let alerts = q
        .limit(page_size)
        .offset((page - 1) * page_size)
        .select(Alert::as_select())
        .load(conn)?;
    Ok(AlertPage {
        total,
        page,
        page_size,
        alerts,
    })
}

pub fn get(conn: &mut PgConnection, app: &str, id: &str) -> Result<Alert, AlertError> {
    al::table
        .find(id)
        .filter(al::bk_app_code.eq(app))
        .select(Alert::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AlertError::NotFound(format!("alert {id} does not exist")))
}

/// The events of an alert, oldest first, with what each did.
pub fn events(
    conn: &mut PgConnection,
    app: &str,
    id: &str,
    limit: i64,
) -> Result<Vec<Value>, AlertError> {
    get(conn, app, id)?;
    let rows: Vec<(String, Option<String>)> = ev::table
        .filter(ev::alert_id.eq(id))
        .order(ev::seq)
        .limit(limit)
        .select((ev::doc, ev::outcome))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(d, o)| {
            let mut d: Value = serde_json::from_str(&d).unwrap_or_default();
            d["outcome"] = Value::from(o);
            d
        })
        .collect())
}

#[derive(Debug, Clone, Serialize, Queryable)]
pub struct LogView {
    pub id: i64,
    pub alert_id: String,
    pub op_type: String,
    pub description: String,
    pub operator: Option<String>,
    pub event_id: Option<String>,
    pub time: i64,
}

pub fn logs(conn: &mut PgConnection, app: &str, id: &str) -> Result<Vec<LogView>, AlertError> {
    get(conn, app, id)?;
    Ok(lg::table
        .filter(lg::alert_id.eq(id))
        .order(lg::id)
        .select((
            lg::id,
            lg::alert_id,
            lg::op_type,
            lg::description,
            lg::operator,
            lg::event_id,
            lg::time,
        ))
        .load(conn)?)
}

/// What an operator does to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Close an open alert by hand.
    Close,
    /// Acknowledge an alert (it stays open).
    Ack,
}

/// Do `action` to an alert, recording the operator and message in its log.
pub fn act(
    conn: &mut PgConnection,
    app: &str,
    id: &str,
    action: Action,
    operator: &str,
    message: &str,
    now: i64,
) -> Result<Alert, AlertError> {
    conn.transaction(|conn| {
        let a = get(conn, app, id)?;
        let target = al::table.find(id);
        let (op, done) = match action {
            Action::Close => {
                if a.status != ABNORMAL {
                    return Err(AlertError::field(
                        "status",
                        format!(
                            "alert {id} is {}, not ABNORMAL: only an open alert can be closed",
                            a.status
                        ),
                    ));
                }
                diesel::update(target)
                    .set((
                        al::status.eq(CLOSED),
                        al::end_time.eq(now),
                        al::next_status.eq(None::<String>),
                        al::next_status_time.eq(None::<i64>),
                    ))
                    .execute(conn)?;
                ("CLOSE", "closed")
            }
            Action::Ack => {
                if a.is_ack {
                    return Err(AlertError::field(
                        "is_ack",
                        format!(
                            "alert {id} was acknowledged by {}",
                            a.ack_operator.unwrap_or_default()
                        ),
                    ));
                }
                diesel::update(target)
                    .set((al::is_ack.eq(true), al::ack_operator.eq(operator)))
                    .execute(conn)?;
                ("ACK", "acknowledged")
            }
        };
        // Redis learns of it at the next builder pass.
        diesel::update(target)
            .set((al::update_time.eq(now), al::cache_dirty.eq(true)))
            .execute(conn)?;
        log(
            conn,
            id,
            op,
            &format!("{done} by {operator}: {message}"),
            operator,
            now,
        )?;
        get(conn, app, id)
    })
}

fn log(
    conn: &mut PgConnection,
    id: &str,
    op: &str,
    d: &str,
    operator: &str,
    now: i64,
) -> QueryResult<usize> {
    diesel::insert_into(lg::table)
        .values((
            lg::alert_id.eq(id),
            lg::op_type.eq(op),
            lg::description.eq(d),
            lg::operator.eq(operator),
            lg::time.eq(now),
        ))
        .execute(conn)
}
