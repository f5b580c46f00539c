//! A `json_config` compiled the way BKData's Java engine builds it: nodes are made in
//! pre-order (unlabelled ones numbered 1, 2, … as they are made), each `assign` appends its
//! fields to the schema of the level it sits in, and each `iterate` (or `items`) opens a
//! nested level whose rows are multiplied into the level above when the record is flattened.
//! Where two fields (or two nested levels) of one level are equal, values of either land in
//! the last one's slot, as Java's `Fields.fieldIndex` resolves them.
use super::jv::J;
use super::plan::{
    obj_keys, project_keys, Access, Assign, AssignSpec, Built, Cond, FieldDef, Fun, Item, Level,
    Node, Op, Ref, Var,
};
use super::text::{java_regex, java_split_plain};
use super::types::FieldType;
use super::ConfigError;
use serde_json::Value;

fn cond_of(v: &Value) -> Option<Cond> {
    let op = v.get("op")?.as_str()?;
    let sub = |k: &str| Box::new(v.get(k).and_then(cond_of));
    Some(match op {
        "and" => Cond::And(sub("lval"), sub("rval")),
        "or" => Cond::Or(sub("lval"), sub("rval")),
        "not" => Cond::Not(sub("lval")),
        "equal" | "not_equal" | "contains" | "startswith" | "endswith" | "greater"
        | "not_greater" | "less" | "not_less" => Cond::Cmp(
            op.to_string(),
            v.get("lval").and_then(|x| var_of(op, x)),
            v.get("rval").and_then(|x| var_of(op, x)),
        ),
        _ => return None,
    })
}

fn var_of(op: &str, v: &Value) -> Option<Var> {
    let symbol = text(v)?;
    if let Some(rest) = symbol.strip_prefix('$') {
        if symbol == "$ALL" {
            return Some(Var::All);
        }
        let name = rest.trim();
        return Some(match name.parse::<i32>() {
            Ok(i) => Var::Index(i64::from(i)),
            Err(_) => Var::Key(name.to_string()),
        });
    }
    match op {
        "equal" | "not_equal" | "startswith" | "endswith" | "contains" => {
            Some(Var::Const(J::Str(symbol)))
        }
        _ => match v {
            Value::String(s) if s.contains('.') => {
                super::types::java_parse_double(s).map(|d| Var::Const(J::Double(d)))
            }
            Value::String(s) => s.trim().parse::<i64>().ok().map(|n| Var::Const(J::Long(n))),
            other => Some(Var::Const(J::from_value(other))),
        },
    }
}

pub struct Compiler {
    nodes: Vec<Node>,
    levels: Vec<Level>,
    fields: Vec<FieldDef>,
    cur: usize,
    stack: Vec<usize>,
    refs: Vec<(usize, Item)>,
    auto: u64,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl Default for Compiler {
    fn default() -> Self {
        Compiler {
            nodes: Vec::new(),
            levels: vec![Level::default()],
            fields: Vec::new(),
            cur: 0,
            stack: Vec::new(),
            refs: Vec::new(),
            auto: 1,
        }
    }
}

impl Compiler {
    /// Compile the node tree of a config (the `extract` value, or the config itself when it
    /// has none, as BKData accepts).
    pub fn root(&mut self, root: &Value) -> Result<Option<usize>, ConfigError> {
        self.gen(root)
    }

    /// A field appended to the top level (what `derive` and `calculate` add).
    pub fn add_root_field(&mut self, f: FieldDef) -> (Ref, usize) {
        let cur = std::mem::replace(&mut self.cur, 0);
        let out = self.add_field(f);
        self.cur = cur;
        out
    }

    /// `Fields.searchFieldByName`: the last field of that name in a level, else the first
    /// found in its nested levels.
    pub fn search_field(&self, name: &str) -> Option<usize> {
        self.search_in(0, name)
    }

    fn search_in(&self, level: usize, name: &str) -> Option<usize> {
        let items = &self.levels[level].items;
        let direct = items.iter().rev().find_map(|it| match it {
            Item::Field(f) if self.fields[*f].name == name => Some(*f),
            _ => None,
        });
        direct.or_else(|| {
            items.iter().find_map(|it| match it {
                Item::Sub(l) => self.search_in(*l, name),
                _ => None,
            })
        })
    }

    pub fn field(&self, id: usize) -> &FieldDef {
        &self.fields[id]
    }

    pub fn finish(self, root: Option<usize>) -> Built {
        let slots = self.resolve();
        let obj_keys = self.nodes.iter().map(|n| obj_keys(n, &slots)).collect();
        let mut built = Built {
            obj_keys,
            nodes: self.nodes,
            root,
            levels: self.levels,
            fields: self.fields,
            slots,
        };
        project_keys(&mut built);
        built
    }
}

impl Compiler {
    fn label(&mut self, conf: &Value) -> String {
        match conf.get("label").and_then(text) {
            Some(l) if !l.trim().is_empty() => l,
            _ => {
                let l = self.auto.to_string();
                self.auto += 1;
                l
            }
        }
    }

    fn push_level(&mut self) -> (usize, Ref) {
        let id = self.levels.len();
        self.levels.push(Level::default());
        self.levels[self.cur].items.push(Item::Sub(id));
        let r = self.reference(self.cur, Item::Sub(id));
        self.stack.push(self.cur);
        self.cur = id;
        (id, r)
    }

    fn pop_level(&mut self) {
        self.cur = self.stack.pop().unwrap_or(0);
    }

    fn reference(&mut self, level: usize, item: Item) -> Ref {
        self.refs.push((level, item));
        self.refs.len() - 1
    }

    fn add_field(&mut self, f: FieldDef) -> (Ref, usize) {
        let id = self.fields.len();
        self.fields.push(f);
        self.levels[self.cur].items.push(Item::Field(id));
        (self.reference(self.cur, Item::Field(id)), id)
    }

    fn node(&mut self, label: String, op: Op, next: Option<usize>) -> usize {
        self.nodes.push(Node { label, op, next });
        self.nodes.len() - 1
    }

    fn gen_next(&mut self, conf: &Value) -> Result<Option<usize>, ConfigError> {
        match conf.get("next") {
            Some(n) => self.gen(n),
            None => Ok(None),
        }
    }

    /// One node and what follows it; `None` where BKData makes no node (no or unknown type,
    /// method or subtype): the node before it then reports `AssignNodeNeededError`.
    fn gen(&mut self, conf: &Value) -> Result<Option<usize>, ConfigError> {
        let Some(ty) = conf.get("type").and_then(Value::as_str) else {
            return Ok(None);
        };
        match ty.to_ascii_lowercase().as_str() {
            "fun" => self.fun(conf),
            "access" => self.access(conf),
            "assign" => self.assign(conf),
            "branch" => {
                let label = self.label(conf);
                let kids = conf.get("next").and_then(Value::as_array).ok_or_else(|| {
                    ConfigError(format!("branch {label}: next must be a list of nodes"))
                })?;
                let mut ids = Vec::with_capacity(kids.len());
                for k in kids {
                    ids.push(self.gen(k)?);
                }
                Ok(Some(self.node(label, Op::Branch(ids), None)))
            }
            _ => Ok(None),
        }
    }

    fn fun(&mut self, conf: &Value) -> Result<Option<usize>, ConfigError> {
        let method = conf
            .get("method")
            .and_then(Value::as_str)
            .ok_or_else(|| ConfigError("a fun node needs a method".into()))?;
        let known = [
            "from_json",
            "from_json_list",
            "iterate",
            "split",
            "csvline",
            "regex_extract",
            "splitkv",
            "from_url",
            "replace",
            "items",
            "zip",
            "pop",
            "to_string",
        ];
        if method == "selector" {
            return self.selector(conf).map(Some);
        }
        if !known.contains(&method) {
            return Ok(None);
        }
        let label = self.label(conf);
        let args: &[Value] = conf
            .get("args")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice);
        let need = |what: &str| ConfigError(format!("node {label} ({method}): {what}"));
        let (op, next) = match method {
            "iterate" => {
                let (_, sub) = self.push_level();
                let idx_name = args
                    .first()
                    .and_then(text)
                    .unwrap_or_else(|| "_iteration_idx".into());
                let next = self.gen_next(conf)?;
                self.add_field(FieldDef {
                    name: idx_name,
                    ty_name: "int".into(),
                    ty: Some(FieldType::Int),
                    dimension: false,
                    json: false,
                    internal: true,
                });
                self.pop_level();
                (Op::Fun(Fun::Iterate { sub }), next)
            }
            "items" => {
                self.push_level();
                let next = self.gen_next(conf)?;
                let args = conf.get("args").and_then(Value::as_array).ok_or_else(|| {
                    need("args must be a list ([] or [key_field, \"dimension\"?])")
                })?;
                let entries = args.is_empty();
                if let Some(key_to) = args.first().and_then(text) {
                    let dim = args.len() == 2 && args[1].as_str() == Some("dimension");
                    self.add_field(FieldDef {
                        name: key_to,
                        ty_name: "string".into(),
                        ty: Some(FieldType::String),
                        dimension: dim,
                        json: false,
                        internal: false,
                    });
                }
                self.pop_level();
                (Op::Fun(Fun::Items { entries }), next)
            }
            _ => {
                let op = match method {
                    "from_json" => Op::Fun(Fun::FromJson { keys: None }),
                    "from_json_list" => Op::Fun(Fun::FromJsonList),
                    "split" => {
                        let sep = args
                            .first()
                            .and_then(Value::as_str)
                            .ok_or_else(|| need("args[0] must be the separator"))?
                            .replace("\\n", "\n");
                        let delim = sep
                            .chars()
                            .next()
                            .ok_or_else(|| need("the separator must not be empty"))?;
                        let limit = match args.get(1) {
                            None => 1001,
                            Some(v) => int(v)
                                .ok_or_else(|| need("args[1] must be the number of parts"))?
                                .clamp(0, 1001) as usize,
                        };
                        Op::Fun(Fun::Split { delim, limit })
                    }
                    "csvline" => Op::Fun(Fun::Csvline),
                    "regex_extract" => {
                        let spec = args
                            .first()
                            .and_then(Value::as_object)
                            .ok_or_else(|| need("args[0] must be {regexp, keys}"))?;
                        let pattern = spec
                            .get("regexp")
                            .and_then(Value::as_str)
                            .ok_or_else(|| need("regexp is required"))?;
                        let re = java_regex(pattern).map_err(|e| need(&e))?;
                        let mut keys: Vec<String> = spec
                            .get("keys")
                            .and_then(Value::as_array)
                            .map(|a| a.iter().filter_map(text).collect())
                            .unwrap_or_default();
                        if keys.is_empty() {
                            keys = re.capture_names().flatten().map(str::to_string).collect();
                        }
                        if let Some(k) = keys
                            .iter()
                            .find(|k| !re.capture_names().flatten().any(|n| n == k.as_str()))
                        {
                            return Err(need(&format!("No group with name <{k}> in the regexp")));
                        }
                        Op::Fun(Fun::RegexExtract { re, keys })
                    }
                    "splitkv" => {
                        let (e, kv) = if args.len() >= 2 {
                            (
                                text(&args[0]).unwrap_or_default(),
                                text(&args[1]).unwrap_or_default(),
                            )
                        } else {
                            (",".into(), ":".into())
                        };
                        Op::Fun(Fun::SplitKv {
                            entry: e.chars().collect(),
                            kv: kv.chars().collect(),
                        })
                    }
                    "from_url" => Op::Fun(Fun::FromUrl),
                    "replace" => Op::Fun(Fun::Replace(
                        args.chunks(2)
                            .map(|c| {
                                (
                                    text(&c[0]).unwrap_or_else(|| "null".into()),
                                    c.get(1)
                                        .map(|v| text(v).unwrap_or_else(|| "null".into()))
                                        .unwrap_or_default(),
                                )
                            })
                            .collect(),
                    )),
                    "zip" => Op::Fun(Fun::Zip(
                        args.first()
                            .and_then(text)
                            .ok_or_else(|| need("args must be [listA, listB]"))?,
                        args.get(1)
                            .and_then(text)
                            .ok_or_else(|| need("args must be [listA, listB]"))?,
                    )),
                    "pop" => Op::Fun(Fun::Pop),
                    _ => Op::Fun(Fun::ToString),
                };
                (op, self.gen_next(conf)?)
            }
        };
        Ok(Some(self.node(label, op, next)))
    }

    fn default_of(&self, label: &str, conf: &Value) -> Result<Option<J>, ConfigError> {
        let ty = conf
            .get("default_type")
            .and_then(text)
            .unwrap_or_else(|| "null".into());
        if ty == "null" {
            return Ok(None);
        }
        let value = conf
            .get("default_value")
            .map(J::from_value)
            .unwrap_or(J::Null);
        let value = match value {
            J::Str(_) | J::Null => value,
            other => J::Str(other.java_string()),
        };
        match FieldType::parse_engine(&ty) {
            None => Ok(Some(J::Null)),
            Some(t) => t
                .cast(&value)
                .map(Some)
                .map_err(|e| ConfigError(format!("node {label}: default_value: {e}"))),
        }
    }

    fn access(&mut self, conf: &Value) -> Result<Option<usize>, ConfigError> {
        let sub = conf.get("subtype").and_then(Value::as_str).unwrap_or("");
        if !matches!(sub, "access_obj" | "access_pos" | "access_multi") {
            return Ok(None);
        }
        let label = self.label(conf);
        let op = match sub {
            "access_obj" => {
                let key = conf.get("key").and_then(text);
                let next = self.gen_next(conf)?;
                let default = self.default_of(&label, conf)?;
                return Ok(Some(self.node(
                    label,
                    Op::Access(Access::Obj { key, default }),
                    next,
                )));
            }
            "access_pos" => {
                let index = conf.get("index").and_then(int).ok_or_else(|| {
                    ConfigError(format!("node {label}: access_pos needs an integer index"))
                })?;
                let next = self.gen_next(conf)?;
                let default = self.default_of(&label, conf)?;
                return Ok(Some(self.node(
                    label,
                    Op::Access(Access::Pos { index, default }),
                    next,
                )));
            }
            _ => {
                let keys = conf.get("keys").and_then(Value::as_str).ok_or_else(|| {
                    ConfigError(format!("node {label}: access_multi needs keys (a, b, …)"))
                })?;
                Op::Access(Access::Multi {
                    keys: java_split_plain(keys, ','),
                    sep: conf
                        .get("separator")
                        .and_then(text)
                        .unwrap_or_else(|| "null".into()),
                })
            }
        };
        let next = self.gen_next(conf)?;
        Ok(Some(self.node(label, op, next)))
    }

    fn assign(&mut self, conf: &Value) -> Result<Option<usize>, ConfigError> {
        let sub = conf.get("subtype").and_then(Value::as_str).unwrap_or("");
        if !matches!(
            sub,
            "assign_obj" | "assign_pos" | "assign_json" | "assign_value"
        ) {
            return Ok(None);
        }
        let label = self.label(conf);
        let field_of = |item: &Value, json: bool| -> Result<FieldDef, ConfigError> {
            let name = item.get("assign_to").and_then(text).ok_or_else(|| {
                ConfigError(format!("node {label}: every assign item needs assign_to"))
            })?;
            let ty_name = match item.get("type") {
                None => "string".to_string(),
                Some(t) => text(t)
                    .ok_or_else(|| {
                        ConfigError(format!("node {label}: field {name}: type is null"))
                    })?
                    .to_lowercase(),
            };
            if json && !matches!(ty_name.as_str(), "string" | "text") {
                return Err(ConfigError(format!(
                    "BadJsonObjectError: {ty_name} is not string or text type, unable to assign json!"
                )));
            }
            Ok(FieldDef {
                ty: FieldType::parse_engine(&ty_name),
                name,
                ty_name,
                dimension: item.get("is_dimension").is_some(),
                json,
                internal: false,
            })
        };
        if sub == "assign_value" {
            let item = conf
                .get("assign")
                .filter(|a| a.is_object())
                .ok_or_else(|| {
                    ConfigError(format!(
                        "node {label}: assign_value takes one {{assign_to, type}}"
                    ))
                })?;
            let f = field_of(item, false)?;
            let (r, id) = self.add_field(f);
            return Ok(Some(self.node(
                label,
                Op::Assign(Assign::Value(r, id)),
                None,
            )));
        }
        let items = conf
            .get("assign")
            .and_then(Value::as_array)
            .ok_or_else(|| ConfigError(format!("node {label}: assign must be a list")))?;
        let op = if sub == "assign_pos" {
            let mut specs: Vec<(i64, Ref, usize)> = Vec::new();
            for item in items {
                let index = item.get("index").and_then(int).ok_or_else(|| {
                    ConfigError(format!(
                        "node {label}: every assign_pos item needs an integer index"
                    ))
                })?;
                let f = field_of(item, false)?;
                let (r, id) = self.add_field(f);
                // One field per position: a later item at the same index replaces the earlier.
                specs.retain(|(i, ..)| *i != index);
                specs.push((index, r, id));
            }
            Op::Assign(Assign::Pos(specs))
        } else {
            let json = sub == "assign_json";
            let mut specs: Vec<AssignSpec> = Vec::new();
            for item in items {
                let f = field_of(item, json)?;
                let key = item.get("key").and_then(text);
                match specs
                    .iter_mut()
                    .find(|s| self.fields[s.field].name == f.name)
                {
                    Some(s) => s.keys.push(key),
                    None => {
                        let (slot, field) = self.add_field(f);
                        specs.push(AssignSpec {
                            keys: vec![key],
                            slot,
                            field,
                        });
                    }
                }
            }
            if json {
                Op::Assign(Assign::Json(specs))
            } else {
                Op::Assign(Assign::Obj(specs))
            }
        };
        Ok(Some(self.node(label, op, None)))
    }

    fn selector(&mut self, conf: &Value) -> Result<usize, ConfigError> {
        let label = self.label(conf);
        let args: Vec<Value> = conf
            .get("args")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let kids = conf.get("next").and_then(Value::as_array).ok_or_else(|| {
            ConfigError(format!("selector {label}: next must be a list of nodes"))
        })?;
        let diff = kids.len() as i64 - args.len() as i64;
        if !(0..=1).contains(&diff) {
            return Err(ConfigError(format!(
                "ConditionAndBranchNotMatch: next.len - args.len should be 0 or 1, but {diff}"
            )));
        }
        let base = self.levels[self.cur].items.len();
        let mut merged: Vec<Item> = Vec::new();
        let mut merged_keys: Vec<String> = Vec::new();
        let mut branches = Vec::new();
        let mut missing = Vec::new();
        let mut temps = Vec::new();
        for k in kids {
            // Each branch is built on a schema of its own, then merged into this level.
            let t = self.levels.len();
            self.levels.push(Level::default());
            temps.push(t);
            let saved = (self.cur, std::mem::take(&mut self.stack));
            self.cur = t;
            let node = self.gen(k);
            self.cur = saved.0;
            self.stack = saved.1;
            branches.push(node?);
            let mut memo = vec![None; self.levels.len()];
            let own: Vec<String> = self.levels[t]
                .items
                .iter()
                .map(|it| self.item_key(*it, &mut memo))
                .collect();
            for (it, key) in self.levels[t].items.clone().into_iter().zip(&own) {
                if !merged_keys.contains(key) {
                    merged.push(it);
                    merged_keys.push(key.clone());
                }
            }
            missing.push(
                merged
                    .iter()
                    .zip(&merged_keys)
                    .enumerate()
                    .filter(|(_, (it, key))| matches!(it, Item::Sub(_)) && !own.contains(key))
                    .map(|(i, _)| i + base)
                    .collect(),
            );
        }
        let cur = self.cur;
        for r in &mut self.refs {
            if temps.contains(&r.0) {
                r.0 = cur;
            }
        }
        let mut defaults = vec![super::exec::Slot::Null; base];
        for it in &merged {
            defaults.push(self.default_slot(*it));
        }
        self.levels[cur].items.extend(merged);
        let conds = args.iter().map(cond_of).collect();
        Ok(self.node(
            label,
            Op::Selector {
                conds,
                branches,
                missing,
                defaults,
            },
            None,
        ))
    }

    /// A field's default is null; a nested level's is one row of defaults.
    fn default_slot(&self, it: Item) -> super::exec::Slot {
        match it {
            Item::Field(_) => super::exec::Slot::Null,
            Item::Sub(l) => super::exec::Slot::Rows(vec![self.levels[l]
                .items
                .iter()
                .map(|i| self.default_slot(*i))
                .collect()]),
        }
    }

    /// Every reference's slot: the last item of its level equal to it.
    fn resolve(&self) -> Vec<usize> {
        let mut memo: Vec<Option<String>> = vec![None; self.levels.len()];
        let keys: Vec<Vec<String>> = (0..self.levels.len())
            .map(|l| {
                self.levels[l]
                    .items
                    .iter()
                    .map(|it| self.item_key(*it, &mut memo))
                    .collect()
            })
            .collect();
        self.refs
            .iter()
            .map(|&(level, item)| {
                let k = self.item_key(item, &mut memo);
                keys[level].iter().rposition(|x| *x == k).unwrap_or(0)
            })
            .collect()
    }

    fn item_key(&self, item: Item, memo: &mut Vec<Option<String>>) -> String {
        match item {
            Item::Field(f) => self.fields[f].key(),
            Item::Sub(l) => {
                if let Some(k) = &memo[l] {
                    return k.clone();
                }
                let inner: Vec<String> = self.levels[l]
                    .items
                    .iter()
                    .map(|it| self.item_key(*it, memo))
                    .collect();
                let k = format!("S({})", inner.join("\u{1}"));
                memo[l] = Some(k.clone());
                k
            }
        }
    }
}
