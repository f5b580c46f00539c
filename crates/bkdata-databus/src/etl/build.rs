//! Building a [`CleanPlan`] from a `json_config`: the tree compiled (`compile`), then its
//! `conf` (time field and format), and BKData's post-steps (`derive`, `calculate`,
//! `dispatch`) checked and built.
use super::*;

impl CleanPlan {
    /// Compile a `json_config` (the JSON string BKData and bklog send).
    pub fn compile(json_config: &str) -> Result<Self, ConfigError> {
        let value: Value = serde_json::from_str(json_config)
            .map_err(|e| ConfigError(format!("json_config is not valid JSON: {e}")))?;
        Self::compile_value(value)
    }

    pub fn compile_value(value: Value) -> Result<Self, ConfigError> {
        let obj = value
            .as_object()
            .ok_or_else(|| ConfigError("json_config must be a JSON object".into()))?;
        let mut c = Compiler::default();
        let root = match obj.get("extract").filter(|e| !e.is_null()) {
            Some(e) => c.root(e)?,
            None => c.root(&value)?,
        };
        let conf = match obj.get("conf") {
            None => None,
            Some(Value::Object(m)) => Some(m),
            Some(_) => return Err(ConfigError("conf must be an object".into())),
        };
        let derive = match obj.get("derive").filter(|d| !d.is_null()) {
            Some(d) => Some(derive_of(&mut c, d, conf)?),
            None => None,
        };
        let mut cals = Vec::new();
        if let Some(list) = obj.get("calculate").filter(|d| !d.is_null()) {
            let list = list
                .as_array()
                .ok_or_else(|| ConfigError("calculate must be a list".into()))?;
            for item in list {
                cals.push(cal_of(&mut c, item)?);
            }
        }
        let built = c.finish(root);
        let flat = built.flat_fields();
        let mut columns: Vec<(String, String, &'static str, bool)> = flat
            .iter()
            .map(|&f| {
                let d = &built.fields[f];
                let display = if d.internal { "hidden" } else { "user_field" };
                (d.name.clone(), d.ty_name.clone(), display, d.json)
            })
            .collect();
        let index_of = |cols: &[(String, String, &str, bool)], name: &str| {
            cols.iter().rposition(|c| c.0 == name)
        };
        let mut tz_hours = 8.0;
        let mut gbk = false;
        let time = match conf {
            None => None,
            Some(conf) => {
                let name = conf
                    .get("time_field_name")
                    .and_then(text)
                    .ok_or_else(|| ConfigError("conf.time_field_name is required".into()))?;
                let (field, out_name) = if name == "localTime" {
                    (None, "timestamp".to_string())
                } else {
                    let i = index_of(&columns, &name).ok_or_else(|| {
                        ConfigError(format!(
                            "conf.time_field_name {name:?} does not exist: no node assigns it"
                        ))
                    })?;
                    let out = conf
                        .get("output_field_name")
                        .and_then(text)
                        .unwrap_or_else(|| "timestamp".into());
                    (Some(i), out)
                };
                let len = match conf.get("timestamp_len") {
                    None | Some(Value::Null) => 0,
                    Some(v) => v
                        .as_i64()
                        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                        .ok_or_else(|| {
                            ConfigError("conf.timestamp_len must be an integer".into())
                        })?,
                };
                let format = conf.get("time_format").and_then(text);
                let spec = match field {
                    // The ingest time needs no format.
                    None => TimeSpec::new(len, format.as_deref()).ok(),
                    Some(_) => Some(
                        TimeSpec::new(len, format.as_deref())
                            .map_err(|e| ConfigError(format!("conf: {e}")))?,
                    ),
                };
                if let Some(t) = conf.get("timezone").filter(|t| !t.is_null()) {
                    tz_hours = match t {
                        Value::Number(n) => n.as_f64(),
                        Value::String(s) => s.trim().parse().ok(),
                        _ => None,
                    }
                    .filter(|h: &f64| h.abs() <= 18.0)
                    .ok_or_else(|| {
                        ConfigError(format!("conf.timezone {t} must be hours east of UTC"))
                    })?;
                }
                let round = conf
                    .get("time_round")
                    .and_then(Value::as_i64)
                    .filter(|r| *r > 0)
                    .unwrap_or(1);
                if let Some(enc) = conf.get("encoding").and_then(Value::as_str) {
                    let e = enc.to_ascii_uppercase().replace(['-', '_'], "");
                    match e.as_str() {
                        "UTF8" | "" => {}
                        "GBK" | "GB2312" | "GB18030" => gbk = true,
                        _ => {
                            return Err(ConfigError(format!(
                                "conf.encoding {enc:?} is not supported (UTF-8 or GBK)"
                            )))
                        }
                    }
                }
                let display = if out_name == "timestamp" {
                    "inter_field"
                } else {
                    "hidden"
                };
                columns.push((out_name, "int".into(), display, false));
                Some(TimeConf {
                    field,
                    spec,
                    tz_hours,
                    round,
                })
            }
        };
        if let Some(list) = obj.get("dispatch").filter(|d| !d.is_null()) {
            check_dispatch(list, &columns)?;
        }
        let mut trims = Vec::new();
        if let Some(list) = obj.get("convert").filter(|d| !d.is_null()) {
            for item in list
                .as_array()
                .ok_or_else(|| ConfigError("convert must be a list".into()))?
            {
                if item.get("type").and_then(Value::as_str) != Some("fun") {
                    return Err(ConfigError("Unsuppported convert type".into()));
                }
                if item.get("method").and_then(Value::as_str) != Some("trim") {
                    return Err(ConfigError("Unsuppported convert function".into()));
                }
                let args = item.get("args").and_then(Value::as_array).ok_or_else(|| {
                    ConfigError("can not find args in `convert` configuration".into())
                })?;
                let [name] = args.as_slice() else {
                    return Err(ConfigError("trim only allows one parameter".into()));
                };
                let name = text(name).unwrap_or_default();
                let i = index_of(&columns, &name).ok_or_else(|| {
                    ConfigError(format!("convert trim: field {name:?} does not exist"))
                })?;
                if matches!(columns[i].1.as_str(), "string" | "text") {
                    trims.push(i);
                }
            }
        }
        for cal in &cals {
            if index_of(&columns, &cal.var).is_none() {
                return Err(ConfigError(format!(
                    "calculate: {} does not exist",
                    cal.var
                )));
            }
        }
        let tz = time::offset_hours(tz_hours).map_err(ConfigError)?;
        let stored_cols = columns.len() - usize::from(time.is_some());
        let mut schema: Vec<Field> = columns[..stored_cols]
            .iter()
            .map(|(name, ty, display, _)| Field {
                name: name.clone(),
                field_type: FieldType::parse_engine(ty).unwrap_or(FieldType::String),
                display,
            })
            .collect();
        for (name, ty, display) in [
            ("dtEventTime", FieldType::String, "hidden"),
            ("dtEventTimeStamp", FieldType::Long, "hidden"),
            ("localTime", FieldType::String, "hidden"),
            ("timestamp", FieldType::Long, "inter_field"),
        ] {
            schema.push(Field {
                name: name.into(),
                field_type: ty,
                display,
            });
        }
        let json_cols = (0..stored_cols).filter(|&i| columns[i].3).collect();
        let flat = built.levels.len() == 1
            && built.root.is_some_and(|r| built.fused(r))
            && derive.is_none()
            && cals.is_empty();
        Ok(CleanPlan {
            source: value.clone(),
            json_cols,
            flat,
            gbk,
            built,
            columns,
            schema,
            time,
            tz,
            cals,
            derive,
            trims,
        })
    }
}

fn derive_of(
    c: &mut Compiler,
    d: &Value,
    conf: Option<&serde_json::Map<String, Value>>,
) -> Result<Derive, ConfigError> {
    let map = d
        .as_object()
        .ok_or_else(|| ConfigError("derive must be {field: dimension value}".into()))?;
    let conf = conf.ok_or_else(|| ConfigError("derive needs the conf block".into()))?;
    let mut ty: Option<String> = None;
    for name in map.keys() {
        if let Some(f) = c.search_field(name) {
            let t = c.field(f).ty_name.clone();
            if ty.as_ref().is_some_and(|x| *x != t) {
                return Err(ConfigError(format!(
                    "Derive: type of all demension field are not same {} vs {t}",
                    ty.unwrap_or_default()
                )));
            }
            ty = Some(t);
        }
    }
    let ty = ty.ok_or_else(|| ConfigError("Derive: missing type".into()))?;
    let name = |k: &str| {
        conf.get(k)
            .and_then(text)
            .ok_or_else(|| ConfigError(format!("derive needs conf.{k}")))
    };
    let dim_field = name("derive_dimension_field_name")?;
    let value_field = name("derive_value_field_name")?;
    let field = |n: &str, t: &str| FieldDef {
        name: n.to_string(),
        ty_name: t.to_string(),
        ty: FieldType::parse_engine(t),
        dimension: false,
        json: false,
        internal: false,
    };
    let (s1, _) = c.add_root_field(field(&dim_field, "string"));
    let (s2, _) = c.add_root_field(field(&value_field, &ty));
    // Java keeps the pairs in a HashMap keyed by the dimension value.
    let pairs: Vec<(String, String)> = map
        .iter()
        .map(|(k, v)| (text(v).unwrap_or_default(), k.clone()))
        .collect();
    let keys: Vec<&str> = pairs.iter().map(|(d, _)| d.as_str()).collect();
    let dims = jv::hash_order(&keys)
        .into_iter()
        .map(|i| pairs[i].clone())
        .collect();
    Ok(Derive {
        dims,
        dim_field,
        value_field,
        slots: [s1, s2],
    })
}

fn cal_of(c: &mut Compiler, item: &Value) -> Result<Cal, ConfigError> {
    let var = item
        .get("assign_var")
        .and_then(text)
        .ok_or_else(|| ConfigError("calculate: assign_var is required".into()))?;
    let ty = item
        .get("assign_type")
        .and_then(text)
        .unwrap_or_else(|| "double".into())
        .to_lowercase();
    let expr = item
        .get("expr")
        .or_else(|| item.get("fun_call"))
        .filter(|e| e.is_object())
        .ok_or_else(|| ConfigError(format!("calculate {var}: expr is required")))?;
    let kind = if expr.get("type").and_then(Value::as_str) == Some("fun") {
        let args: Vec<String> = expr
            .get("args")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(text).collect())
            .unwrap_or_default();
        let arg = |i: usize| {
            args.get(i)
                .cloned()
                .ok_or_else(|| ConfigError(format!("calculate {var}: missing args[{i}]")))
        };
        match expr.get("method").and_then(Value::as_str) {
            Some("minus") => CalKind::Minus(arg(0)?, arg(1)?),
            Some("percent") => CalKind::Percent(arg(0)?, arg(1)?),
            Some("max") => CalKind::Max(arg(0)?),
            Some("map") => return Err(ConfigError("can not find config of cc cache".into())),
            other => {
                return Err(ConfigError(format!(
                    "calculate {var}: unknown function {other:?} (minus, percent, max)"
                )))
            }
        }
    } else {
        CalKind::Expr(cal_expr(expr)?)
    };
    let added = match c.search_field(&var) {
        Some(_) => None,
        None => Some(
            c.add_root_field(FieldDef {
                name: var.clone(),
                ty: FieldType::parse_engine(&ty),
                ty_name: ty,
                dimension: false,
                json: false,
                internal: false,
            })
            .0,
        ),
    };
    Ok(Cal { var, kind, added })
}

fn cal_expr(e: &Value) -> Result<CalExpr, ConfigError> {
    if e.get("type").and_then(Value::as_str) == Some("fun") {
        return Err(ConfigError(
            match e.get("method").and_then(Value::as_str) {
                Some("map") => "can not find config of cc cache",
                _ => "Unsupport cal function",
            }
            .into(),
        ));
    }
    let side = |k: &str| {
        e.get(k)
            .filter(|v| v.is_object())
            .ok_or_else(|| ConfigError(format!("calculate: an operator needs {k}")))
            .and_then(cal_expr)
    };
    match e.get("op").and_then(Value::as_str) {
        Some(op @ ("+" | "-" | "*" | "/")) => Ok(CalExpr::Bin(
            op.chars().next().unwrap_or('+'),
            Box::new(side("lval")?),
            Box::new(side("rval")?),
        )),
        Some("value") => {
            if e.get("type").and_then(Value::as_str) == Some("field") {
                Ok(CalExpr::Field(
                    e.get("name").and_then(text).unwrap_or_default(),
                ))
            } else {
                Ok(CalExpr::Const(J::from_value(
                    e.get("val").unwrap_or(&Value::Null),
                )))
            }
        }
        _ => Err(ConfigError("Unsupported cal op".into())),
    }
}

/// BKData builds a config's `dispatch` conditions at once: a field they name must exist.
fn check_dispatch(
    list: &Value,
    columns: &[(String, String, &'static str, bool)],
) -> Result<(), ConfigError> {
    fn walk(v: &Value, cols: &[(String, String, &'static str, bool)]) -> Result<(), ConfigError> {
        if v.get("op").and_then(Value::as_str) == Some("value")
            && v.get("type").and_then(Value::as_str) == Some("field")
        {
            let name = v.get("name").and_then(Value::as_str).unwrap_or("");
            if !cols.iter().any(|c| c.0 == name) {
                return Err(ConfigError(format!(
                    "dispatch: field {name} does not exist"
                )));
            }
        }
        for k in ["lval", "rval"] {
            if let Some(x) = v.get(k) {
                walk(x, cols)?;
            }
        }
        Ok(())
    }
    for d in list.as_array().into_iter().flatten() {
        if let Some(cond) = d.get("cond") {
            walk(cond, columns)?;
        }
    }
    Ok(())
}
