//! A compiled clean plan: its nodes (each an `Op` with its label and next node), the schema
//! as a tree of levels with their fields and slots, and the keys each fused `from_json` reads
//! (found once here so a record's JSON is read by those keys only).
use super::jv::J;
use super::types::FieldType;
use regex::Regex;

#[derive(Debug, Clone)]
pub struct FieldDef {
    pub name: String,
    /// The type as written, lower-cased; `ty` is `None` for a name BKData does not know
    /// (every value then casts to null).
    pub ty_name: String,
    pub ty: Option<FieldType>,
    pub dimension: bool,
    pub json: bool,
    pub internal: bool,
}

impl FieldDef {
    pub fn key(&self) -> String {
        format!(
            "F{}\u{0}{}\u{0}{}{}{}",
            self.name, self.ty_name, self.dimension as u8, self.json as u8, self.internal as u8
        )
    }

    /// `cast` of a string (json fields never take one).
    pub fn cast_str(&self, s: &str) -> Result<J, super::EtlError> {
        if self.json {
            return self.cast(&J::Str(s.to_string()));
        }
        match self.ty {
            Some(t) => t.cast_str(s),
            None => Ok(J::Null),
        }
    }

    /// `cast` in place (a failed cast leaves null).
    pub fn cast_in_place(&self, v: &mut J) -> Result<(), super::EtlError> {
        match (self.json, self.ty) {
            (false, Some(t)) => t.cast_in_place(v),
            _ => {
                let c = self.cast(v);
                *v = J::Null;
                c.map(|c| *v = c)
            }
        }
    }

    /// `cast` of a value the caller gives up.
    pub fn cast_owned(&self, v: J) -> Result<J, super::EtlError> {
        match (self.json, self.ty) {
            (false, Some(t)) => t.cast_owned(v),
            _ => self.cast(&v),
        }
    }

    /// `Field.castType`: json fields take maps only.
    pub fn cast(&self, v: &J) -> Result<J, super::EtlError> {
        if v.is_null() {
            return Ok(J::Null);
        }
        if self.json && self.ty.is_some_and(FieldType::is_text) {
            return match v {
                J::Map(_) => Ok(v.clone()),
                other => Err(super::EtlError::new(
                    super::ErrorKind::TypeConversion,
                    format!(
                        "can not convert {} to json {}. data type: {}",
                        other.java_string(),
                        self.ty_name,
                        other.class()
                    ),
                )),
            };
        }
        match self.ty {
            Some(t) => t.cast(v),
            None => Ok(J::Null),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Item {
    Field(usize),
    Sub(usize),
}

#[derive(Debug, Default)]
pub struct Level {
    pub items: Vec<Item>,
}

/// Where a value goes: a slot of a level, resolved after the whole config is built.
pub type Ref = usize;

#[derive(Debug)]
pub struct AssignSpec {
    pub keys: Vec<Option<String>>,
    pub slot: Ref,
    pub field: usize,
}

#[derive(Debug)]
pub enum Op {
    Fun(Fun),
    Access(Access),
    Assign(Assign),
    Branch(Vec<Option<usize>>),
    /// The first branch whose condition holds (or the last, an `else`, when there is one
    /// branch more than conditions) runs; fields only other branches assign get defaults.
    Selector {
        conds: Vec<Option<Cond>>,
        branches: Vec<Option<usize>>,
        /// Per branch: the positions (in the level) of nested levels it lacks.
        missing: Vec<Vec<usize>>,
        defaults: Vec<super::exec::Slot>,
    },
}

/// A `fun` node's method.
#[derive(Debug)]
pub enum Fun {
    FromJson {
        /// Build only these keys of the object (every reader of it reads by key).
        keys: Option<Vec<String>>,
    },
    FromJsonList,
    Iterate {
        sub: Ref,
    },
    Items {
        entries: bool,
    },
    Split {
        delim: char,
        limit: usize,
    },
    Csvline,
    RegexExtract {
        re: Regex,
        keys: Vec<String>,
    },
    SplitKv {
        entry: Vec<char>,
        kv: Vec<char>,
    },
    FromUrl,
    Replace(Vec<(String, String)>),
    Zip(String, String),
    Pop,
    ToString,
}

/// An `access` node: a map's value by key, a list's item by position, or several keys joined.
#[derive(Debug)]
pub enum Access {
    Obj {
        key: Option<String>,
        default: Option<J>,
    },
    Pos {
        index: i64,
        default: Option<J>,
    },
    Multi {
        keys: Vec<String>,
        sep: String,
    },
}

/// An `assign` node: fields of the level from a map (`assign_obj`, `assign_json`), a list
/// (`assign_pos`: index, slot, field) or the value itself (`assign_value`).
#[derive(Debug)]
pub enum Assign {
    Obj(Vec<AssignSpec>),
    Pos(Vec<(i64, Ref, usize)>),
    Json(Vec<AssignSpec>),
    Value(Ref, usize),
}

/// A selector condition (`{op, lval, rval}`; `$ALL`, `$0`, `$key` read the input).
#[derive(Debug)]
pub enum Cond {
    And(Box<Option<Cond>>, Box<Option<Cond>>),
    Or(Box<Option<Cond>>, Box<Option<Cond>>),
    Not(Box<Option<Cond>>),
    /// A comparison; `None` operands (not valid for the operator) make it false.
    Cmp(String, Option<Var>, Option<Var>),
}

#[derive(Debug)]
pub enum Var {
    All,
    Index(i64),
    Key(String),
    Const(J),
}

#[derive(Debug)]
pub struct Node {
    pub label: String,
    pub op: Op,
    pub next: Option<usize>,
}

/// The keys an `assign_obj` reads, for reading them straight from JSON text: each distinct
/// key once, and per spec the indexes of its keys.
#[derive(Debug)]
pub struct ObjKeys {
    pub keys: Vec<String>,
    pub per_spec: Vec<Vec<usize>>,
    /// How many specs read each key (a value read twice is copied, else moved).
    pub uses: Vec<usize>,
    /// By key: the slot it fills, when every spec reads one key, every key is read once and
    /// no two specs fill one slot (values can then be parsed straight into a flat row).
    pub direct: Option<Vec<usize>>,
}

pub struct Built {
    /// By node: the keys of an `assign_obj` that follows a `from_json`.
    pub obj_keys: Vec<Option<ObjKeys>>,
    pub nodes: Vec<Node>,
    pub root: Option<usize>,
    pub levels: Vec<Level>,
    pub fields: Vec<FieldDef>,
    /// By `Ref`: the slot in its level.
    pub slots: Vec<usize>,
}

impl Built {
    /// The fields of the flattened row: each level's fields, then its last nested level's.
    pub fn flat_fields(&self) -> Vec<usize> {
        let mut out = Vec::new();
        let mut level = Some(0);
        while let Some(l) = level {
            level = None;
            for it in &self.levels[l].items {
                match it {
                    Item::Field(f) => out.push(*f),
                    Item::Sub(s) => level = Some(*s),
                }
            }
        }
        out
    }
}

pub fn obj_keys(n: &Node, slots: &[usize]) -> Option<ObjKeys> {
    let Op::Assign(Assign::Obj(specs)) = &n.op else {
        return None;
    };
    let mut keys: Vec<String> = Vec::new();
    let mut per_spec = Vec::new();
    for s in specs {
        let mut idx = Vec::new();
        for k in s.keys.iter().flatten() {
            let i = match keys.iter().position(|x| x == k) {
                Some(i) => i,
                None => {
                    keys.push(k.clone());
                    keys.len() - 1
                }
            };
            idx.push(i);
        }
        per_spec.push(idx);
    }
    let mut uses = vec![0; keys.len()];
    for i in per_spec.iter().flatten() {
        uses[*i] += 1;
    }
    let mut direct = Some(vec![usize::MAX; keys.len()]);
    let mut filled = std::collections::HashSet::new();
    for (spec, idx) in specs.iter().zip(&per_spec) {
        match (&idx[..], direct.as_mut()) {
            (&[k], Some(d)) if uses[k] == 1 && filled.insert(slots[spec.slot]) => {
                d[k] = slots[spec.slot]
            }
            _ => {
                direct = None;
                break;
            }
        }
    }
    Some(ObjKeys {
        direct,
        keys,
        per_spec,
        uses,
    })
}

/// Let a `from_json` build only the keys its readers need, when every reader reads by key
/// (an assign_obj, an assign_json of named keys, an access_obj, a branch of these).
pub fn project_keys(b: &mut Built) {
    for id in 0..b.nodes.len() {
        if !matches!(b.nodes[id].op, Op::Fun(Fun::FromJson { .. })) {
            continue;
        }
        let mut keys = Vec::new();
        if let Some(next) = b.nodes[id].next {
            if readers_keys(&b.nodes, next, &mut keys) {
                b.nodes[id].op = Op::Fun(Fun::FromJson { keys: Some(keys) });
            }
        }
    }
}

fn readers_keys(nodes: &[Node], id: usize, out: &mut Vec<String>) -> bool {
    let mut add = |k: &Option<String>| match k {
        Some(k) => {
            if !out.contains(k) {
                out.push(k.clone());
            }
            true
        }
        None => false,
    };
    match &nodes[id].op {
        Op::Assign(Assign::Obj(specs)) => specs.iter().all(|s| s.keys.iter().all(&mut add)),
        Op::Assign(Assign::Json(specs)) => specs.iter().all(|s| {
            s.keys
                .iter()
                .all(|k| k.as_deref() != Some("__all_keys__") && add(k))
        }),
        Op::Access(Access::Obj { key, .. }) => add(key),
        Op::Branch(kids) => {
            let kids = kids.clone();
            kids.iter()
                .all(|k| k.is_some_and(|k| readers_keys(nodes, k, out)))
        }
        _ => false,
    }
}
