//! Accepting events: a request body or a bus record read, cleaned, deduplicated against what is
//! stored, and queued for the builders (`Incoming`).
use super::*;

/// The answer to a batch of events: what was accepted, what was rejected and why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IngestReport {
    pub accepted: usize,
    /// Accepted events already received before (same id, stored or earlier in the batch):
    /// stored once.
    pub duplicates: usize,
    pub rejected: Vec<Rejected>,
    /// The ids of the accepted events, in order.
    pub event_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rejected {
    pub index: usize,
    pub reason: String,
}

/// A cleaned event on its way to a builder, with its app. Its document (`event.doc`) is
/// stored in `alert_events.doc` as it is, not encoded again.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub app: String,
    pub event: Event,
}

impl Incoming {
    pub fn new(app: &str, event: Event) -> Self {
        Incoming {
            app: app.to_string(),
            event,
        }
    }

    /// The document's text.
    pub fn doc(&self) -> &str {
        &self.event.doc
    }

    /// Its document as text again (the inbox carries only that, as bus records did before
    /// heads). Only the fields the builder reads are parsed; the document stays text.
    pub fn from_doc(app: &str, doc: String) -> Result<Self, AlertError> {
        // A derived struct would also take a JSON list (its fields in order).
        if !doc.trim_start().starts_with('{') {
            return Err(AlertError::Other("a queued event is not an object".into()));
        }
        let fields = match serde_json::from_str::<QueuedFields>(&doc) {
            Ok(q) => q,
            // A key given twice (the typed parse refuses it; as a map, the last one counts).
            Err(_) => {
                let value: Value = serde_json::from_str(&doc)
                    .map_err(|e| AlertError::Other(format!("a queued event is not JSON: {e}")))?;
                serde_json::from_value(value).map_err(|e| {
                    AlertError::Other(format!("a queued event is not an object: {e}"))
                })?
            }
        };
        Ok(Incoming::new(app, fields.event(doc)))
    }

    /// The bus record: `{app}\t{head}\t{doc}`, the head a JSON list of the fields the
    /// builder reads (`Head`), so it never parses the document (JSON text holds no raw tab
    /// or newline).
    pub fn record(&self) -> Vec<u8> {
        let mut r = Vec::with_capacity(self.app.len() + self.doc().len() + 256);
        self.write_record(&mut r);
        r
    }

    pub fn write_record(&self, out: &mut Vec<u8>) {
        let e = &self.event;
        out.extend_from_slice(self.app.as_bytes());
        out.push(b'\t');
        let head: Head = (
            Cow::Borrowed(&e.id),
            Cow::Borrowed(&e.event_id),
            e.strategy_id,
            Cow::Borrowed(&e.alert_name),
            e.severity,
            Cow::Borrowed(&e.status),
            Cow::Borrowed(&e.target_type),
            Cow::Borrowed(&e.target),
            Cow::Borrowed(&e.bk_biz_id),
            Cow::Borrowed(&e.dedupe_keys),
            Cow::Borrowed(&e.dedupe_md5),
            e.time,
            e.anomaly_time,
        );
        // Strings and numbers: serializing cannot fail.
        serde_json::to_writer(&mut *out, &head).unwrap_or_default();
        out.push(b'\t');
        out.extend_from_slice(self.doc().as_bytes());
    }

    /// A bus record back: with its head, or (records queued before heads) the document alone.
    pub fn from_record(r: &[u8]) -> Result<Self, AlertError> {
        let text = std::str::from_utf8(r)
            .map_err(|_| AlertError::Other("a queued event is not UTF-8".into()))?;
        let (app, rest) = text
            .split_once('\t')
            .ok_or_else(|| AlertError::Other("a queued event has no app".into()))?;
        if !rest.starts_with('[') {
            return Self::from_doc(app, rest.to_string());
        }
        let bad = |why: String| AlertError::Other(format!("a queued event's head: {why}"));
        let mut heads = serde_json::Deserializer::from_str(rest).into_iter::<Head>();
        let h = heads
            .next()
            .ok_or_else(|| bad("missing".into()))?
            .map_err(|e| bad(e.to_string()))?;
        let doc = rest[heads.byte_offset()..]
            .strip_prefix('\t')
            .ok_or_else(|| bad("no document after it".into()))?;
        let event = Event {
            id: h.0.into_owned(),
            event_id: h.1.into_owned(),
            strategy_id: h.2,
            alert_name: h.3.into_owned(),
            severity: h.4,
            status: h.5.into_owned(),
            target_type: h.6.into_owned(),
            target: h.7.into_owned(),
            bk_biz_id: h.8.into_owned(),
            dedupe_keys: h.9.into_owned(),
            dedupe_md5: h.10.into_owned(),
            time: h.11,
            anomaly_time: h.12,
            doc: doc.to_string(),
        };
        Ok(Incoming::new(app, event))
    }
}

/// The builder's fields of a queued event, in this order: id, event_id, strategy_id,
/// alert_name, severity, status, target_type, target, bk_biz_id, dedupe_keys, dedupe_md5,
/// time, anomaly_time.
type Head<'a> = (
    Cow<'a, str>,
    Cow<'a, str>,
    Option<i64>,
    Cow<'a, str>,
    i32,
    Cow<'a, str>,
    Cow<'a, str>,
    Cow<'a, str>,
    Cow<'a, str>,
    Cow<'a, [String]>,
    Cow<'a, str>,
    i64,
    i64,
);

/// The events of an ingest body, `{"events": [...]}` or the list itself, each as its JSON
/// text (a batch is not parsed into trees; the clean reads what it needs).
pub fn batch_of(body: &[u8]) -> Result<Vec<&str>, AlertError> {
    #[derive(serde::Deserialize)]
    struct Wrapped<'a> {
        #[serde(borrow)]
        events: Option<Vec<&'a RawValue>>,
    }
    let not_json = |e: serde_json::Error| {
        AlertError::field("events", format!("request body is not valid JSON: {e}"))
    };
    let required = || AlertError::field("events", "events is required (a list of events)");
    let list: Vec<&RawValue> = match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => serde_json::from_slice(body).map_err(not_json)?,
        Some(b'{') => match serde_json::from_slice::<Wrapped>(body) {
            Ok(Wrapped { events: Some(list) }) => list,
            Ok(Wrapped { events: None }) => return Err(required()),
            // Not JSON, or `events` not a list.
            Err(e) => {
                return Err(
                    match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                        Ok(_) => required(),
                        Err(_) => not_json(e),
                    },
                )
            }
        },
        _ => {
            serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(not_json)?;
            return Err(AlertError::field(
                "events",
                "the body must be {\"events\": [...]} or a list of events",
            ));
        }
    };
    Ok(list.into_iter().map(RawValue::get).collect())
}

/// Clean a batch: each bad event (and each beyond `max`) is rejected with its index.
pub fn clean_batch(events: &[&str], max: usize, now: i64) -> (Vec<Event>, Vec<Rejected>) {
    let mut rejected = Vec::new();
    let mut good = Vec::with_capacity(events.len().min(max));
    for (i, raw) in events.iter().enumerate() {
        if i >= max {
            rejected.push(Rejected {
                index: i,
                reason: format!("beyond the batch limit of {max} events"),
            });
            continue;
        }
        match clean_text(raw, now) {
            Ok(e) => good.push(e),
            Err(reason) => rejected.push(Rejected { index: i, reason }),
        }
    }
    (good, rejected)
}

#[derive(QueryableByName)]
struct StoredId {
    #[diesel(sql_type = Text)]
    id: String,
}

/// Rows of `alert_events` found by their key `(time, id)` (a probe of the key each),
/// selecting `columns` of `e`.
pub(crate) fn events_by_key<R>(
    conn: &mut PgConnection,
    columns: &str,
    keys: &[(i64, &str)],
) -> QueryResult<Vec<R>>
where
    R: QueryableByName<diesel::pg::Pg> + 'static,
{
    let (times, ids): (Vec<i64>, Vec<&str>) = keys.iter().copied().unzip();
    diesel::sql_query(format!(
        "SELECT {columns} FROM unnest($1::int8[], $2::text[]) AS k(time, id) \
         JOIN alert_events e ON e.time = k.time AND e.id = k.id COLLATE \"C\""
    ))
    .bind::<Array<BigInt>, _>(times)
    .bind::<Array<Text>, _>(ids)
    .load(conn)
}

/// Of the events keyed `(time, id)`, the ids of those already stored.
pub fn stored_ids(
    conn: &mut PgConnection,
    keys: &[(i64, &str)],
) -> Result<HashSet<String>, AlertError> {
    if keys.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(events_by_key::<StoredId>(conn, "e.id", keys)?
        .into_iter()
        .map(|r| r.id)
        .collect())
}

/// Clean a batch and leave out what is already stored or repeated in it: the report, and the
/// events to hand to a builder (through the bus or the inbox).
pub fn accept(
    conn: &mut PgConnection,
    app: &str,
    events: &[&str],
    max: usize,
    now: i64,
) -> Result<(IngestReport, Vec<Incoming>), AlertError> {
    let (good, rejected) = clean_batch(events, max, now);
    let keys: Vec<(i64, &str)> = good.iter().map(|e| (e.time, e.id.as_str())).collect();
    let mut seen = stored_ids(conn, &keys)?;
    let event_ids: Vec<String> = good.iter().map(|e| e.id.clone()).collect();
    let accepted = good.len();
    let fresh: Vec<Incoming> = good
        .into_iter()
        .filter(|e| seen.insert(e.id.clone()))
        .map(|e| Incoming::new(app, e))
        .collect();
    let report = IngestReport {
        accepted,
        duplicates: accepted - fresh.len(),
        rejected,
        event_ids,
    };
    Ok((report, fresh))
}

/// Clean a batch and queue it in the inbox for a builder: the path of callers that hold only
/// a database connection (the platform's own faults, the `alert` storage, tests). The bulk
/// path is the bus (`job::publish`).
pub fn ingest(
    conn: &mut PgConnection,
    app: &str,
    events: &[Value],
    max: usize,
    now: i64,
) -> Result<IngestReport, AlertError> {
    let texts: Vec<String> = events.iter().map(Value::to_string).collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (report, fresh) = accept(conn, app, &texts, max, now)?;
    for chunk in fresh.chunks(5000) {
        let docs: Vec<&str> = chunk.iter().map(|i| i.doc()).collect();
        diesel::sql_query(
            "INSERT INTO alert_inbox (bk_app_code, doc) \
             SELECT $1, d::json FROM unnest($2::text[]) WITH ORDINALITY AS t(d, n) ORDER BY n",
        )
        .bind::<Text, _>(app)
        .bind::<Array<Text>, _>(&docs)
        .execute(conn)?;
    }
    Ok(report)
}
