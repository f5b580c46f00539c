//! Running a compiled config on one record, as BKData's Java engine runs it: a node takes a
//! value, may record an error for its label (verify shows these), may count the record as bad
//! (a failed value), and hands its result to the next node. Values are written into the slots
//! of the current level; an `iterate` writes a list of rows into its slot in the level above.
//! Errors that Java throws end the record's walk (an `iterate` catches its items' and skips
//! them); the rest only mark the node.
//!
//! Where Java would stop with a `NullPointerException` (a null list item, a null default), and
//! BKData silently loses the record, this engine records a `NullDataError` instead.
//!
//! `fun` nodes run in `funs`, `access` and `assign` nodes in `assign`; branches, selectors
//! and the fused fast paths are here.
use super::plan::{Assign, Built, Cond, FieldDef, Fun, Item, Node, Op, Var};

mod assign;
mod funs;
use super::jv::{self, J};
use super::text::split_slices;
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

    /// Whether node `id` has a fused form (`exec_str` answers for it when not tracing).
    pub fn fused(&self, id: usize) -> bool {
        let n = self.node(id);
        n.next
            .is_some_and(|next| match (&n.op, &self.nodes[next].op) {
                (Op::Fun(Fun::FromJson { .. }), Op::Assign(Assign::Obj(_))) => {
                    self.obj_keys[next].is_some()
                }
                (Op::Fun(Fun::Split { .. }), Op::Assign(Assign::Pos(_))) => true,
                _ => false,
            })
    }

    /// The fused forms of the two shapes nearly every clean has, `from_json → assign_obj`
    /// and `split → assign_pos`, on a string: the same slots, errors and failures as the
    /// general path (a test compares them), without building the object or the list.
    /// `None` when `id` has no fused form or verify is tracing.
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
            (Op::Fun(Fun::FromJson { .. }), Op::Assign(Assign::Obj(specs))) => {
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
            (Op::Fun(Fun::Split { delim, limit }), Op::Assign(Assign::Pos(specs))) => {
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
            Op::Fun(f) => self.fun(id, f, o, vals, cx),
            Op::Access(a) => self.access(id, a, o, vals, cx),
            Op::Assign(a) => self.assign(a, label, o, vals, cx),
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

/// A level's values flattened into rows: its fields, then (when it has nested levels) each
/// row of the last one. A level whose values do not fill its schema gives no rows, as in
/// BKData (a node that failed left slots unset).
pub fn flatten(b: &Built, level: usize, vals: Vec<Slot>, out: &mut Vec<Vec<J>>) {
    let items = &b.levels[level].items;
    if vals.len() != items.len() {
        return;
    }
    let inner = items.iter().rposition(|it| matches!(it, Item::Sub(_)));
    let mut simple = Vec::with_capacity(items.len());
    let mut nested = None;
    for (i, (it, v)) in items.iter().zip(vals).enumerate() {
        match it {
            Item::Field(_) => simple.push(match v {
                Slot::V(j) => j,
                _ => J::Null,
            }),
            Item::Sub(l) if Some(i) == inner => nested = Some((*l, v)),
            Item::Sub(_) => {}
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
