//! Running a compiled config on one record, as BKData's Java engine runs it: a node takes a
//! value, may record an error for its label (verify shows these), may count the record as bad
//! (a failed value), and hands its result to the next node. Values are written into the slots
//! of the current level; an `iterate` writes a list of rows into its slot in the level above.
//! Errors that Java throws end the record's walk (an `iterate` catches its items' and skips
//! them); the rest only mark the node.
//!
//! Where Java would stop with a `NullPointerException` (a null list item, a null default), and
//! BKData silently loses the record, this engine records a `NullDataError` instead.
use super::compile::{Built, Cond, FieldDef, Node, Op, Var};
use super::jv::{self, JMap, J};
use super::types::{ErrorKind, EtlError};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub enum Slot {
    Null,
    V(J),
    Rows(Vec<Vec<Slot>>),
}

/// What verify shows per node.
#[derive(Default, Debug)]
pub struct Trace {
    pub nodes: BTreeMap<String, Detail>,
    pub errors: BTreeMap<String, String>,
    pub output: BTreeMap<String, (&'static str, J)>,
    pub error_message: Vec<String>,
}

#[derive(Debug)]
pub enum Detail {
    One(J),
    Many(Vec<J>),
}

/// A thrown engine error (Java's `PipeExtractorException` and its kinds).
#[derive(Debug)]
pub struct Throw {
    pub label: String,
    pub error: EtlError,
}

pub struct Cx<'t> {
    pub trace: Option<&'t mut Trace>,
    /// The first failed value: (label, error).
    pub bad: Option<(String, EtlError)>,
    pub bad_count: usize,
    /// The first error recorded on a node (for a record that produced nothing).
    pub node_error: Option<(String, EtlError)>,
}

impl<'t> Cx<'t> {
    pub fn new(trace: Option<&'t mut Trace>) -> Self {
        Cx {
            trace,
            bad: None,
            bad_count: 0,
            node_error: None,
        }
    }

    pub fn bad(&mut self, label: &str, e: EtlError) {
        self.bad_count += 1;
        if self.bad.is_none() {
            self.bad = Some((label.to_string(), e));
        }
    }

    fn error(&mut self, label: &str, kind: ErrorKind, detail: Option<String>) {
        let text = match &detail {
            Some(d) => format!("{}: {d}", kind.name()),
            None => kind.name().to_string(),
        };
        if self.node_error.is_none() {
            self.node_error = Some((
                label.to_string(),
                EtlError::new(kind, detail.unwrap_or_else(|| "at this node".into())),
            ));
        }
        if let Some(t) = self.trace.as_deref_mut() {
            t.errors.insert(label.to_string(), text);
        }
    }

    /// A value that failed its field's cast: the record counts as bad, the node shows
    /// `name(type) = value`, and the field gets null.
    fn cast_failed(&mut self, label: &str, f: &FieldDef, value: &str, e: EtlError) -> J {
        self.bad(label, e);
        let detail = format!("{}({}) = {value}", f.name, f.ty_name);
        self.error(label, ErrorKind::TypeConversion, Some(detail));
        J::Null
    }

    fn detail(&mut self, label: &str, v: impl FnOnce() -> J) {
        if let Some(t) = self.trace.as_deref_mut() {
            let v = v();
            match t.nodes.remove(label) {
                None => {
                    t.nodes.insert(label.to_string(), Detail::One(v));
                }
                Some(Detail::One(old)) => {
                    t.nodes
                        .insert(label.to_string(), Detail::Many(vec![old, v]));
                }
                Some(Detail::Many(mut l)) => {
                    l.push(v);
                    t.nodes.insert(label.to_string(), Detail::Many(l));
                }
            }
        }
    }

    fn output(&mut self, label: &str, v: &J) {
        if let Some(t) = self.trace.as_deref_mut() {
            if !t.output.contains_key(label) {
                t.output.insert(label.to_string(), (v.class(), v.clone()));
            }
        }
    }

    pub fn tracing(&self) -> bool {
        self.trace.is_some()
    }
}

fn throw<T>(label: &str, kind: ErrorKind, detail: impl Into<String>) -> Result<T, Throw> {
    Err(Throw {
        label: label.to_string(),
        error: EtlError::new(kind, detail),
    })
}

pub fn set(vals: &mut Vec<Slot>, slot: usize, v: Slot) {
    if vals.len() <= slot {
        vals.resize(slot + 1, Slot::Null);
    }
    vals[slot] = v;
}

/// Where the fused paths write a level's values: the general slot list, or (for a plan of
/// one flat level) straight into the stored row.
pub trait Sink {
    fn put(&mut self, slot: usize, v: J);
    /// A string value (copied into a reused buffer where the sink has one).
    fn put_str(&mut self, slot: usize, s: &str) {
        self.put(slot, J::Str(s.to_owned()));
    }
    /// The row itself, for values parsed straight into their slots, with the sink's spare
    /// string buffers.
    fn row(&mut self) -> Option<(&mut [J], &mut Vec<String>)> {
        None
    }
    /// Slot `slot` was written through `row`.
    fn mark(&mut self, _slot: usize) {}
}

impl Sink for Vec<Slot> {
    fn put(&mut self, slot: usize, v: J) {
        set(self, slot, Slot::V(v));
    }
}

/// The row of a one-level plan, written in place. `reached` mirrors the slot list's length:
/// a record whose last slot was never written gives no row, as `flatten` decides.
pub struct FlatRow<'s> {
    pub row: Vec<J>,
    pub reached: usize,
    /// Emptied string buffers of earlier records, written before any is allocated.
    pub spare: &'s mut Vec<String>,
}

impl Sink for FlatRow<'_> {
    fn put(&mut self, slot: usize, v: J) {
        self.row[slot] = v;
        self.mark(slot);
    }
    fn put_str(&mut self, slot: usize, s: &str) {
        self.row[slot] = J::Str(jv::reuse(self.spare, s));
        self.mark(slot);
    }
    fn row(&mut self) -> Option<(&mut [J], &mut Vec<String>)> {
        Some((&mut self.row, self.spare))
    }
    fn mark(&mut self, slot: usize) {
        self.reached = self.reached.max(slot + 1);
    }
}

fn short_str(s: &str) -> String {
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn short(v: &J) -> String {
    let s = v.java_string();
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

impl Built {
    fn node(&self, id: usize) -> &Node {
        &self.nodes[id]
    }

    /// Hand `v` to the node after `id`, or mark `id` when it has none.
    fn pass(&self, id: usize, v: &J, vals: &mut Vec<Slot>, cx: &mut Cx) -> Result<(), Throw> {
        let n = self.node(id);
        cx.output(&n.label, v);
        match n.next {
            Some(next) => self.exec(next, v, vals, cx),
            None => {
                cx.error(&n.label, ErrorKind::AssignNodeNeeded, None);
                Ok(())
            }
        }
    }

    /// The fused forms of the two shapes nearly every clean has, `from_json → assign_obj`
    /// and `split → assign_pos`, on a string: the same slots, errors and failures as the
    /// general path (a test compares them), without building the object or the list.
    /// `None` when `id` has no fused form or verify is tracing.
    /// Whether node `id` has a fused form (`exec_str` answers for it when not tracing).
    pub fn fused(&self, id: usize) -> bool {
        let n = self.node(id);
        n.next
            .is_some_and(|next| match (&n.op, &self.nodes[next].op) {
                (Op::FromJson { .. }, Op::AssignObj(_)) => self.obj_keys[next].is_some(),
                (Op::Split { .. }, Op::AssignPos(_)) => true,
                _ => false,
            })
    }

    pub fn exec_str(
        &self,
        id: usize,
        s: &str,
        vals: &mut impl Sink,
        cx: &mut Cx,
    ) -> Option<Result<(), Throw>> {
        if cx.tracing() {
            return None;
        }
        let n = self.node(id);
        let next = n.next?;
        match (&n.op, &self.nodes[next].op) {
            (Op::FromJson { .. }, Op::AssignObj(specs)) => {
                let ok = self.obj_keys[next].as_ref()?;
                let bad_json = |cx: &mut Cx, e: jv::JsonError| {
                    cx.bad(&n.label, EtlError::new(ErrorKind::BadJsonObject, e.0));
                    cx.error(&n.label, ErrorKind::BadJsonObject, Some(short_str(s)));
                    Some(Ok(()))
                };
                let label = &self.nodes[next].label;
                // Straight into a fresh flat row: no value is moved twice.
                if let (Some(targets), Some((row, spare))) = (&ok.direct, vals.row()) {
                    if !s.trim().is_empty() {
                        if let Err(e) = jv::parse_slots(s, &ok.keys, Some(targets), row, spare) {
                            return bad_json(cx, e);
                        }
                    }
                    for spec in specs {
                        let f = &self.fields[spec.field];
                        if let Err(e) = f.cast_in_place(&mut row[self.slots[spec.slot]]) {
                            cx.bad(label, e);
                        }
                    }
                    for spec in specs {
                        vals.mark(self.slots[spec.slot]);
                    }
                    return Some(Ok(()));
                }
                let mut raw: Vec<J> = std::iter::repeat_with(|| J::Null)
                    .take(ok.keys.len())
                    .collect();
                if !s.trim().is_empty() {
                    if let Err(e) = jv::parse_slots(s, &ok.keys, None, &mut raw, &mut Vec::new()) {
                        return bad_json(cx, e);
                    }
                }
                for (spec, idx) in specs.iter().zip(&ok.per_spec) {
                    let f = &self.fields[spec.field];
                    let pick = idx.iter().copied().find(|&k| !raw[k].is_null());
                    let v = match pick {
                        None => Ok(J::Null),
                        Some(k) if ok.uses[k] == 1 => {
                            f.cast_owned(std::mem::replace(&mut raw[k], J::Null))
                        }
                        Some(k) => f.cast(&raw[k]),
                    };
                    let v = v.unwrap_or_else(|e| {
                        cx.bad(label, e);
                        J::Null
                    });
                    vals.put(self.slots[spec.slot], v);
                }
                Some(Ok(()))
            }
            (Op::Split { delim, limit }, Op::AssignPos(specs)) => {
                let parts = split_slices(s, *delim, *limit);
                let label = &self.nodes[next].label;
                for &(index, slot, field) in specs {
                    let f = &self.fields[field];
                    let part = usize::try_from(index).ok().and_then(|i| parts.get(i));
                    if let (Some(p), false, Some(true)) = (part, f.json, f.ty.map(|t| t.is_text()))
                    {
                        vals.put_str(self.slots[slot], p);
                        continue;
                    }
                    let v = match part.map(|p| (p, f.cast_str(p))) {
                        None => J::Null,
                        Some((_, Ok(v))) => v,
                        Some((p, Err(e))) => cx.cast_failed(label, f, p, e),
                    };
                    vals.put(self.slots[slot], v);
                }
                Some(Ok(()))
            }
            _ => None,
        }
    }

    pub fn exec(&self, id: usize, o: &J, vals: &mut Vec<Slot>, cx: &mut Cx) -> Result<(), Throw> {
        if let J::Str(s) = o {
            if let Some(done) = self.exec_str(id, s, vals, cx) {
                return done;
            }
        }
        let n = self.node(id);
        let label = n.label.as_str();
        match &n.op {
            Op::FromJson { keys } => match o {
                J::Str(s) => {
                    let parsed = if s.trim().is_empty() {
                        Ok(J::Map(Box::new(JMap::new(true))))
                    } else {
                        match (keys, cx.tracing()) {
                            (Some(keys), false) => jv::parse_keys(s, keys),
                            _ => jv::parse(s, true),
                        }
                    };
                    match parsed {
                        Ok(m @ J::Map(_)) => {
                            cx.detail(label, || m.clone());
                            self.pass(id, &m, vals, cx)
                        }
                        other => {
                            let why = match other {
                                Err(e) => e.0,
                                Ok(v) => format!("not a JSON object but {}", v.class()),
                            };
                            cx.bad(label, EtlError::new(ErrorKind::BadJsonObject, why));
                            refuse(cx, label, ErrorKind::BadJsonObject, Some(short(o)))
                        }
                    }
                }
                other => refuse(cx, label, ErrorKind::BadJsonObject, Some(short(other))),
            },
            Op::FromJsonList => match o {
                J::Str(s) => match jv::parse(s, false) {
                    Ok(l @ J::List(_)) => {
                        cx.detail(label, || l.clone());
                        self.pass(id, &l, vals, cx)
                    }
                    other => {
                        let why = match other {
                            Err(e) => e.0,
                            Ok(v) => format!("not a JSON list but {}", v.class()),
                        };
                        cx.bad(label, EtlError::new(ErrorKind::BadJsonList, why));
                        refuse(cx, label, ErrorKind::BadJsonList, Some(short(o)))
                    }
                },
                other => refuse(cx, label, ErrorKind::BadJsonList, Some(short(other))),
            },
            Op::Iterate { sub } => {
                let J::List(items) = o else {
                    return refuse(cx, label, ErrorKind::NotListData, Some(short(o)));
                };
                cx.detail(label, || o.clone());
                let mut rows: Vec<Vec<Slot>> = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let mut row = Vec::new();
                    let res = if item.is_null() {
                        throw(label, ErrorKind::NulData, "a null item in the list")
                    } else {
                        cx.output(label, item);
                        match n.next {
                            None => {
                                cx.error(label, ErrorKind::AssignNodeNeeded, None);
                                continue;
                            }
                            Some(next) => self.exec(next, item, &mut row, cx),
                        }
                    };
                    match res {
                        Ok(()) => {
                            row.push(Slot::V(J::Int(i as i32 + 1)));
                            rows.push(row);
                        }
                        Err(Throw { label: at, error }) => {
                            cx.bad(&at, error);
                            cx.error(label, ErrorKind::PipeExtractor, Some(short(o)));
                        }
                    }
                }
                let empty = rows.is_empty();
                set(vals, self.slots[*sub], Slot::Rows(rows));
                if empty {
                    return throw(label, ErrorKind::EmptyEtlResult, "iterate all failed");
                }
                Ok(())
            }
            Op::Items { entries } => {
                let J::Map(m) = o else {
                    return refuse(cx, label, ErrorKind::NotMapData, Some(short(o)));
                };
                let ordered = m.iter_java();
                if *entries {
                    cx.detail(label, || {
                        J::List(ordered.iter().map(|(k, v)| entry_map(k, v)).collect())
                    });
                } else {
                    cx.detail(label, || {
                        J::List(ordered.iter().map(|(_, v)| v.clone()).collect())
                    });
                }
                let mut rows: Vec<Vec<Slot>> = Vec::new();
                for (k, v) in ordered {
                    let mut row = Vec::new();
                    let res = if *entries {
                        let e = entry_map(k, v);
                        cx.output(label, &e);
                        match n.next {
                            None => {
                                cx.error(label, ErrorKind::AssignNodeNeeded, None);
                                Ok(())
                            }
                            Some(next) => self.exec(next, &e, &mut row, cx),
                        }
                    } else if v.is_null() {
                        throw(
                            label,
                            ErrorKind::NulData,
                            format!("the value of {k} is null"),
                        )
                    } else {
                        cx.output(label, v);
                        let r = match n.next {
                            None => {
                                cx.error(label, ErrorKind::AssignNodeNeeded, None);
                                Ok(())
                            }
                            Some(next) => self.exec(next, v, &mut row, cx),
                        };
                        if r.is_ok() {
                            row.push(Slot::V(J::Str(k.clone())));
                        }
                        r
                    };
                    match res {
                        Ok(()) => rows.push(row),
                        Err(Throw { label: at, error }) => {
                            cx.bad(&at, error);
                            cx.error(label, ErrorKind::PipeExtractor, Some(short(o)));
                        }
                    }
                }
                let empty = rows.is_empty();
                // Java appends the rows at the end of the current values (not at a slot).
                vals.push(Slot::Rows(rows));
                if empty {
                    cx.error(label, ErrorKind::EmptyEtlResult, Some(short(o)));
                    return throw(label, ErrorKind::EmptyEtlResult, "iterate all failed");
                }
                Ok(())
            }
            Op::Split { delim, limit } => match o {
                J::Null => refuse(cx, label, ErrorKind::NulData, None),
                J::Str(s) => {
                    let l = J::List(split(s, *delim, *limit).into_iter().map(J::Str).collect());
                    cx.detail(label, || l.clone());
                    self.pass(id, &l, vals, cx)
                }
                other => not_a_string(cx, label, other),
            },
            Op::Csvline => match o {
                J::Str(s) => {
                    let fields = csv_line(s).map_err(|e| Throw {
                        label: label.to_string(),
                        error: EtlError::new(ErrorKind::BadCsvData, e),
                    })?;
                    let l = J::List(fields.into_iter().map(J::Str).collect());
                    cx.detail(label, || l.clone());
                    self.pass(id, &l, vals, cx)
                }
                other => refuse(cx, label, ErrorKind::BadCsvData, Some(short(other))),
            },
            Op::RegexExtract { re, keys } => match o {
                J::Null => refuse(cx, label, ErrorKind::NulData, None),
                J::Str(s) => {
                    let mut m = JMap::new(true);
                    if let Some(caps) = re.captures(s) {
                        for k in keys {
                            let v = caps
                                .name(k)
                                .map_or(J::Null, |c| J::Str(c.as_str().to_string()));
                            m.entries.push((k.clone(), v));
                        }
                    }
                    let m = J::Map(Box::new(m));
                    cx.detail(label, || m.clone());
                    self.pass(id, &m, vals, cx)
                }
                other => not_a_string(cx, label, other),
            },
            Op::SplitKv { entry, kv } => match o {
                J::Null => refuse(cx, label, ErrorKind::NulData, None),
                J::Str(s) => {
                    let mut m = JMap::new(true);
                    for e in commons_split(s, entry, 0) {
                        let parts = commons_split(e, kv, 2);
                        if parts.len() == 2 {
                            m.put(parts[0].to_string(), J::Str(parts[1].to_string()));
                        }
                    }
                    let m = J::Map(Box::new(m));
                    cx.detail(label, || m.clone());
                    self.pass(id, &m, vals, cx)
                }
                other => not_a_string(cx, label, other),
            },
            Op::FromUrl => match o {
                J::Str(s) => {
                    let mut m = JMap::new(true);
                    match url_decode(s) {
                        Ok(d) => {
                            for param in java_split(&d, '&') {
                                let parts = java_split(param, '=');
                                let name = parts.first().copied().unwrap_or("");
                                let value = parts.get(1).copied().unwrap_or("");
                                m.put(name.to_string(), J::Str(value.to_string()));
                            }
                        }
                        Err(e) => {
                            cx.bad(label, EtlError::new(ErrorKind::UrlDecode, e));
                            cx.error(label, ErrorKind::UrlDecode, Some(s.clone()));
                        }
                    }
                    let m = J::Map(Box::new(m));
                    cx.detail(label, || m.clone());
                    self.pass(id, &m, vals, cx)
                }
                other => refuse(cx, label, ErrorKind::UrlDecode, Some(short(other))),
            },
            Op::Replace(pairs) => match o {
                J::Null => refuse(cx, label, ErrorKind::NulData, None),
                J::Str(s) => {
                    let mut out = s.clone();
                    for (from, to) in pairs {
                        if !from.is_empty() {
                            out = out.replace(from.as_str(), to);
                        }
                    }
                    let v = J::Str(out);
                    cx.detail(label, || v.clone());
                    self.pass(id, &v, vals, cx)
                }
                other => not_a_string(cx, label, other),
            },
            Op::Zip(a, b) => {
                if let J::Map(m) = o {
                    if let (Some(J::List(la)), Some(J::List(lb))) = (m.get(a), m.get(b)) {
                        let pairs = J::List(
                            la.iter()
                                .zip(lb)
                                .map(|(x, y)| J::List(vec![x.clone(), y.clone()]))
                                .collect(),
                        );
                        cx.detail(label, || pairs.clone());
                        cx.output(label, &pairs);
                        if let Some(next) = n.next {
                            return self.exec(next, &pairs, vals, cx);
                        }
                        cx.error(label, ErrorKind::AssignNodeNeeded, None);
                    }
                }
                refuse(cx, label, ErrorKind::NotListData, Some(format!("{a} {b}")))
            }
            Op::Pop => match o {
                J::List(l) if !l.is_empty() => {
                    let rest = J::List(l[1..].to_vec());
                    cx.detail(label, || rest.clone());
                    match n.next {
                        Some(next) => self.exec(next, &rest, vals, cx),
                        None => refuse(cx, label, ErrorKind::AssignNodeNeeded, None),
                    }
                }
                other => refuse(cx, label, ErrorKind::NotListData, Some(short(other))),
            },
            Op::ToString => match o {
                J::Null => refuse(cx, label, ErrorKind::NulData, None),
                other => {
                    let v = J::Str(other.java_string());
                    cx.detail(label, || v.clone());
                    self.pass(id, &v, vals, cx)
                }
            },
            Op::AccessObj { key, default } => {
                let found = match (o, key) {
                    (J::Map(m), Some(k)) => m.get(k).filter(|v| !v.is_null()),
                    _ => None,
                };
                let v = match (o, found, default) {
                    (J::Map(_), Some(v), _) => v,
                    (J::Map(_), None, Some(d)) => d,
                    _ => {
                        let k = key.clone().unwrap_or_else(|| "null".into());
                        cx.detail(label, || J::Null);
                        cx.error(label, ErrorKind::AccessByKeyFailed, Some(k.clone()));
                        return throw(
                            label,
                            ErrorKind::AccessByKeyFailed,
                            format!("AccessObj failed while trying to access key {k} as it's null or not exists"),
                        );
                    }
                };
                cx.detail(label, || v.clone());
                self.pass(id, v, vals, cx)
            }
            Op::AccessPos { index, default } => {
                let v = match o {
                    J::List(l) => match usize::try_from(*index).ok().and_then(|i| l.get(i)) {
                        Some(v) => Some(v),
                        None => default.as_ref(),
                    },
                    _ => None,
                };
                let Some(v) = v else {
                    cx.detail(label, || J::Null);
                    cx.error(
                        label,
                        ErrorKind::AccessByIndexFailed,
                        Some(index.to_string()),
                    );
                    return throw(
                        label,
                        ErrorKind::AccessByIndexFailed,
                        format!("AccessPos failed while trying to access index {index}"),
                    );
                };
                cx.detail(label, || v.clone());
                cx.output(label, v);
                match n.next {
                    Some(next) => self.exec(next, v, vals, cx),
                    None => refuse(cx, label, ErrorKind::AssignNodeNeeded, None),
                }
            }
            Op::AccessMulti { keys, sep } => {
                let J::Map(m) = o else {
                    cx.detail(label, || J::Null);
                    cx.error(label, ErrorKind::AccessByKeyFailed, Some(keys.join(",")));
                    return throw(
                        label,
                        ErrorKind::AccessByKeyFailed,
                        format!(
                            "AccessObj failed while trying to access keys: {}",
                            keys.join(",")
                        ),
                    );
                };
                let mut out = String::new();
                for k in keys {
                    if let Some(v) = m.get(k).filter(|v| !v.is_null()) {
                        out.push_str(&v.java_string());
                        out.push_str(sep);
                    }
                }
                // Java drops the last character (one separator, when it is one character long).
                out.pop();
                let v = J::Str(out);
                cx.detail(label, || v.clone());
                self.pass(id, &v, vals, cx)
            }
            Op::AssignObj(specs) | Op::AssignJson(specs) => {
                let J::Map(m) = o else {
                    cx.detail(label, || J::Null);
                    cx.error(label, ErrorKind::NotMapData, None);
                    return throw(
                        label,
                        ErrorKind::NotMapData,
                        format!("{} not Map, can't assign by key", o.class()),
                    );
                };
                let json = matches!(n.op, Op::AssignJson(_));
                let mut shown = cx.tracing().then(|| JMap::new(true));
                for s in specs {
                    let f = &self.fields[s.field];
                    let raw = s.keys.iter().find_map(|k| match k.as_deref() {
                        Some("__all_keys__") if json => Some(o),
                        Some(k) => m.get(k).filter(|v| !v.is_null()),
                        None => None,
                    });
                    let v = match raw.map(|r| f.cast(r)) {
                        None => J::Null,
                        Some(Ok(v)) => v,
                        Some(Err(e)) => {
                            cx.bad(label, e);
                            J::Null
                        }
                    };
                    if let Some(sh) = shown.as_mut() {
                        let shown_v = if json { J::Str(v.jackson()) } else { v.clone() };
                        sh.put(f.name.clone(), shown_v);
                    }
                    set(vals, self.slots[s.slot], Slot::V(v));
                }
                if let Some(sh) = shown {
                    cx.detail(label, || J::Map(Box::new(sh)));
                }
                Ok(())
            }
            Op::AssignPos(specs) => {
                let mut shown = cx.tracing().then(|| JMap::new(true));
                match o {
                    J::Map(_) => {
                        cx.detail(label, || J::Null);
                        cx.error(label, ErrorKind::NotListData, None);
                        let idx: Vec<String> = specs.iter().map(|s| s.0.to_string()).collect();
                        return throw(
                            label,
                            ErrorKind::NotListData,
                            format!(
                                "{} is not List, can't assign by position [{}]",
                                o.class(),
                                idx.join(", ")
                            ),
                        );
                    }
                    J::List(l) => {
                        for &(index, slot, field) in specs {
                            let f = &self.fields[field];
                            let item = usize::try_from(index).ok().and_then(|i| l.get(i));
                            let v = match item.map(|x| (x, f.cast(x))) {
                                None => J::Null,
                                Some((_, Ok(v))) => v,
                                Some((x, Err(e))) => cx.cast_failed(label, f, &x.java_string(), e),
                            };
                            if let Some(sh) = shown.as_mut() {
                                sh.put(f.name.clone(), v.clone());
                            }
                            set(vals, self.slots[slot], Slot::V(v));
                        }
                    }
                    scalar => {
                        for &(_, slot, field) in specs {
                            let f = &self.fields[field];
                            let v = match f.cast(scalar) {
                                Ok(v) => v,
                                Err(e) => {
                                    cx.bad(label, e);
                                    cx.error(
                                        label,
                                        ErrorKind::TypeConversion,
                                        Some(format!("{} -> {}", scalar.class(), f.ty_name)),
                                    );
                                    J::Null
                                }
                            };
                            if let Some(sh) = shown.as_mut() {
                                sh.put(f.name.clone(), v.clone());
                            }
                            set(vals, self.slots[slot], Slot::V(v));
                        }
                    }
                }
                if let Some(sh) = shown {
                    cx.detail(label, || J::Map(Box::new(sh)));
                }
                Ok(())
            }
            Op::AssignValue(slot, field) => {
                let f = &self.fields[*field];
                let v = f
                    .cast(o)
                    .unwrap_or_else(|e| cx.cast_failed(label, f, &o.java_string(), e));
                if cx.tracing() {
                    let mut sh = JMap::new(true);
                    sh.put(f.name.clone(), v.clone());
                    cx.detail(label, || J::Map(Box::new(sh)));
                }
                set(vals, self.slots[*slot], Slot::V(v));
                Ok(())
            }
            Op::Selector {
                conds,
                branches,
                missing,
                defaults,
            } => {
                let chosen = conds
                    .iter()
                    .position(|c| c.as_ref().is_some_and(|c| holds(c, o)))
                    .or_else(|| (branches.len() > conds.len()).then_some(conds.len()));
                let pad = |vals: &mut Vec<Slot>| {
                    for d in defaults.iter().skip(vals.len()) {
                        vals.push(d.clone());
                    }
                };
                match chosen {
                    Some(i) => {
                        match branches[i] {
                            Some(b) => self.exec(b, o, vals, cx)?,
                            None => {
                                cx.error(label, ErrorKind::AssignNodeNeeded, None);
                                return throw(
                                    label,
                                    ErrorKind::AssignNodeNeeded,
                                    "a selector branch has no known type",
                                );
                            }
                        }
                        for &at in &missing[i] {
                            set(vals, at, defaults[at].clone());
                        }
                        pad(vals);
                    }
                    None if !vals.is_empty() => pad(vals),
                    None => {}
                }
                Ok(())
            }
            Op::Branch(kids) => {
                for k in kids {
                    match k {
                        Some(k) => self.exec(*k, o, vals, cx)?,
                        None => {
                            // Java calls a missing child and fails with a NullPointerException.
                            cx.error(label, ErrorKind::AssignNodeNeeded, None);
                            return throw(
                                label,
                                ErrorKind::AssignNodeNeeded,
                                "a branch child has no known type",
                            );
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

/// Whether a selector condition holds for `o`.
fn holds(c: &Cond, o: &J) -> bool {
    let sub = |c: &Option<Cond>| c.as_ref().is_some_and(|c| holds(c, o));
    match c {
        Cond::And(a, b) => a.is_some() && b.is_some() && sub(a) && sub(b),
        Cond::Or(a, b) => a.is_some() && b.is_some() && (sub(a) || sub(b)),
        Cond::Not(a) => a.is_some() && !sub(a),
        Cond::Cmp(op, Some(l), Some(r)) => {
            let (a, b) = (var_val(l, o), var_val(r, o));
            let num = |x: &Option<J>| x.as_ref().filter(|v| v.is_number()).and_then(J::as_f64);
            let st = |x: &Option<J>| x.as_ref().and_then(|v| v.as_str().map(str::to_string));
            match op.as_str() {
                "equal" | "not_equal" => {
                    let eq = match (l, r) {
                        (Var::Index(i), Var::Index(j)) => i == j && a.is_some() && a == b,
                        (Var::Key(i), Var::Key(j)) => i == j && a.is_some() && a == b,
                        _ => match (&a, &b) {
                            (Some(x), Some(y)) => x.java_string() == y.java_string(),
                            _ => false,
                        },
                    };
                    if op == "equal" {
                        eq
                    } else {
                        a.is_some() && b.is_some() && !eq
                    }
                }
                "greater" => matches!((num(&a), num(&b)), (Some(x), Some(y)) if x > y),
                "not_greater" => matches!((num(&a), num(&b)), (Some(x), Some(y)) if x <= y),
                "less" => matches!((num(&a), num(&b)), (Some(x), Some(y)) if x < y),
                "not_less" => matches!((num(&a), num(&b)), (Some(x), Some(y)) if x >= y),
                "startswith" => matches!((st(&a), st(&b)), (Some(x), Some(y)) if x.starts_with(&y)),
                "endswith" => matches!((st(&a), st(&b)), (Some(x), Some(y)) if x.ends_with(&y)),
                "contains" => matches!((st(&a), st(&b)), (Some(x), Some(y)) if x.contains(&y)),
                _ => false,
            }
        }
        Cond::Cmp(..) => false,
    }
}

fn var_val(v: &Var, o: &J) -> Option<J> {
    match v {
        Var::All => Some(o.clone()).filter(|x| !x.is_null()),
        Var::Index(i) => match o {
            J::List(l) => usize::try_from(*i).ok().and_then(|i| l.get(i)).cloned(),
            _ => None,
        },
        Var::Key(k) => match o {
            J::Map(m) => m.get(k).cloned(),
            _ => None,
        },
        Var::Const(c) => Some(c.clone()),
    }
    .filter(|x| !x.is_null())
}

/// A node that cannot take its input: the error on its label, no value, the walk goes on.
fn refuse(cx: &mut Cx, label: &str, kind: ErrorKind, detail: Option<String>) -> Result<(), Throw> {
    cx.error(label, kind, detail);
    cx.detail(label, || J::Null);
    Ok(())
}

/// A string node handed another class: Java's failed cast to String.
fn not_a_string(cx: &mut Cx, label: &str, v: &J) -> Result<(), Throw> {
    let detail = format!("{} -> String", v.class());
    refuse(cx, label, ErrorKind::TypeConversion, Some(detail))
}

fn entry_map(k: &str, v: &J) -> J {
    let mut m = JMap::new(true);
    m.put("key".into(), J::Str(k.to_string()));
    m.put("value".into(), v.clone());
    J::Map(Box::new(m))
}

/// BKData's split: at most `limit` parts (the last holds the rest), a trailing separator
/// gives a trailing empty part.
pub fn split(s: &str, delim: char, limit: usize) -> Vec<String> {
    split_slices(s, delim, limit)
        .into_iter()
        .map(str::to_string)
        .collect()
}

fn split_slices(s: &str, delim: char, limit: usize) -> Vec<&str> {
    let mut out = Vec::with_capacity(16);
    let mut start = 0;
    let mut count = 1;
    while let Some(off) = s[start..].find(delim) {
        if count >= limit {
            break;
        }
        count += 1;
        let i = start + off;
        out.push(&s[start..i]);
        start = i + delim.len_utf8();
    }
    out.push(&s[start..]);
    out
}

/// commons-lang `StringUtils.split(s, chars, max)`: split on any of `seps`, runs of
/// separators count as one, no empty parts; with `max` > 0 the last part holds the rest.
pub fn commons_split<'a>(s: &'a str, seps: &[char], max: usize) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_token = false;
    let mut parts = 1;
    let is_sep = |c: char| seps.contains(&c);
    for (i, c) in s.char_indices() {
        if is_sep(c) {
            if in_token {
                if max > 0 && parts == max {
                    out.push(&s[start..]);
                    return out;
                }
                parts += 1;
                out.push(&s[start..i]);
                in_token = false;
            }
            start = i + c.len_utf8();
            continue;
        }
        in_token = true;
    }
    if in_token {
        out.push(&s[start..]);
    }
    out
}

/// Java's `String.split(c)`: trailing empty parts dropped ("" gives [""]).
pub fn java_split(s: &str, c: char) -> Vec<&str> {
    let mut parts: Vec<&str> = s.split(c).collect();
    while parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    if parts.len() == 1 || parts.iter().any(|p| !p.is_empty()) {
        parts
    } else {
        Vec::new()
    }
}

/// `URLDecoder.decode`: `+` is a space, `%xy` a byte; a bad escape is an error.
fn url_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        format!("URLDecoder: Illegal hex characters in escape (%) pattern at {i}")
                    })?;
                out.push(hex);
                i += 3;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// One CSV record as commons-csv's RFC 4180 format reads the first line: commas, `"`
/// quotes with `""` escapes; text between a closing quote and the next comma is an error,
/// as is an unterminated quote. An empty line is no fields.
pub fn csv_line(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    if s.is_empty() {
        return Ok(out);
    }
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let mut at_start = true;
    loop {
        if at_start && chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => {
                        return Err("EOF reached before encapsulated token finished".to_string())
                    }
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        cur.push('"');
                    }
                    Some('"') => break,
                    Some(c) => cur.push(c),
                }
            }
            match chars.peek() {
                None | Some(',') | Some('\r') | Some('\n') => {}
                Some(_) => {
                    return Err("invalid char between encapsulated token and delimiter".into())
                }
            }
        }
        at_start = false;
        match chars.next() {
            None => {
                out.push(std::mem::take(&mut cur));
                return Ok(out);
            }
            Some(',') => {
                out.push(std::mem::take(&mut cur));
                at_start = true;
            }
            Some('\n') => {
                out.push(std::mem::take(&mut cur));
                return Ok(out);
            }
            Some('\r') if matches!(chars.peek(), None | Some('\n')) => {
                out.push(std::mem::take(&mut cur));
                return Ok(out);
            }
            Some(c) => cur.push(c),
        }
    }
}

/// A level's values flattened into rows: its fields, then (when it has nested levels) each
/// row of the last one. A level whose values do not fill its schema gives no rows, as in
/// BKData (a node that failed left slots unset).
pub fn flatten(b: &Built, level: usize, vals: Vec<Slot>, out: &mut Vec<Vec<J>>) {
    let items = &b.levels[level].items;
    if vals.len() != items.len() {
        return;
    }
    let inner = items
        .iter()
        .rposition(|it| matches!(it, super::compile::Item::Sub(_)));
    let mut simple = Vec::with_capacity(items.len());
    let mut nested = None;
    for (i, (it, v)) in items.iter().zip(vals).enumerate() {
        match it {
            super::compile::Item::Field(_) => simple.push(match v {
                Slot::V(j) => j,
                _ => J::Null,
            }),
            super::compile::Item::Sub(l) if Some(i) == inner => nested = Some((*l, v)),
            super::compile::Item::Sub(_) => {}
        }
    }
    match nested {
        None => out.push(simple),
        Some((l, Slot::Rows(rows))) => {
            let mut complex = Vec::new();
            for r in rows {
                flatten(b, l, r, &mut complex);
            }
            let n = complex.len();
            for (i, mut c) in complex.into_iter().enumerate() {
                let mut row = if i + 1 == n {
                    std::mem::take(&mut simple)
                } else {
                    simple.clone()
                };
                row.append(&mut c);
                out.push(row);
            }
        }
        Some(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_follow_bkdata() {
        assert_eq!(split("a|b|", '|', 1001), ["a", "b", ""]);
        assert_eq!(split("", '|', 1001), [""]);
        assert_eq!(split("a|b|c", '|', 2), ["a", "b|c"]);
        assert_eq!(commons_split("a=1&&b=2&", &['&'], 0), ["a=1", "b=2"]);
        assert_eq!(commons_split("k:v:w", &[':'], 2), ["k", "v:w"]);
        assert_eq!(commons_split("k::v", &[':'], 2), ["k", "v"]);
        assert_eq!(commons_split(":v", &[':'], 2), ["v"]);
        assert_eq!(java_split("a=", '='), ["a"]);
        assert_eq!(java_split("=b", '='), ["", "b"]);
        assert_eq!(java_split("", '&'), [""]);
    }

    #[test]
    fn csv_lines() {
        assert_eq!(csv_line("a,b,,c").unwrap(), ["a", "b", "", "c"]);
        assert_eq!(
            csv_line("\"x,y\",\"he said \"\"hi\"\"\",z").unwrap(),
            ["x,y", "he said \"hi\"", "z"]
        );
        assert!(csv_line("\"open,b").is_err());
        assert!(csv_line("\"a\"b,c").is_err());
        assert_eq!(csv_line("a,b\nc,d").unwrap(), ["a", "b"]);
        assert!(csv_line("").unwrap().is_empty());
    }
}
