//! The `access` nodes (a part of a map or a list, or several keys joined) and the `assign`
//! nodes (fields of the level written from a map, a list or a value, each cast to its type).
use super::{refuse, set, throw, Cx, Slot, Throw};
use crate::etl::jv::{JMap, J};
use crate::etl::plan::{Access, Assign, Built};
use crate::etl::types::ErrorKind;

impl Built {
    pub(super) fn access(
        &self,
        id: usize,
        a: &Access,
        o: &J,
        vals: &mut Vec<Slot>,
        cx: &mut Cx,
    ) -> Result<(), Throw> {
        let n = self.node(id);
        let label = n.label.as_str();
        match a {
            Access::Obj { key, default } => {
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
            Access::Pos { index, default } => {
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
            Access::Multi { keys, sep } => {
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
        }
    }

    pub(super) fn assign(
        &self,
        a: &Assign,
        label: &str,
        o: &J,
        vals: &mut Vec<Slot>,
        cx: &mut Cx,
    ) -> Result<(), Throw> {
        match a {
            Assign::Obj(specs) | Assign::Json(specs) => {
                let J::Map(m) = o else {
                    cx.detail(label, || J::Null);
                    cx.error(label, ErrorKind::NotMapData, None);
                    return throw(
                        label,
                        ErrorKind::NotMapData,
                        format!("{} not Map, can't assign by key", o.class()),
                    );
                };
                let json = matches!(a, Assign::Json(_));
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
            Assign::Pos(specs) => {
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
            Assign::Value(slot, field) => {
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
        }
    }
}
