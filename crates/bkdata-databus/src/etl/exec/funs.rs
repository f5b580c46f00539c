//! The `fun` nodes: parsing (`from_json`, `from_json_list`, `csvline`, `regex_extract`,
//! `splitkv`, `from_url`), iterating (`iterate`, `items`, `zip`, `pop`) and text
//! (`split`, `replace`, `to_string`), as BKData's Java engine runs them.
use super::{refuse, set, short, throw, Cx, Slot, Throw};
use crate::etl::jv::{self, JMap, J};
use crate::etl::plan::{Built, Fun};
use crate::etl::text::{commons_split, csv_line, java_split, split, url_decode};
use crate::etl::types::{ErrorKind, EtlError};

impl Built {
    pub(super) fn fun(
        &self,
        id: usize,
        f: &Fun,
        o: &J,
        vals: &mut Vec<Slot>,
        cx: &mut Cx,
    ) -> Result<(), Throw> {
        let n = self.node(id);
        let label = n.label.as_str();
        match f {
            Fun::FromJson { keys } => match o {
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
            Fun::FromJsonList => match o {
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
            Fun::Iterate { sub } => {
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
            Fun::Items { entries } => {
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
            Fun::Split { delim, limit } => match o {
                J::Null => refuse(cx, label, ErrorKind::NulData, None),
                J::Str(s) => {
                    let l = J::List(split(s, *delim, *limit).into_iter().map(J::Str).collect());
                    cx.detail(label, || l.clone());
                    self.pass(id, &l, vals, cx)
                }
                other => not_a_string(cx, label, other),
            },
            Fun::Csvline => match o {
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
            Fun::RegexExtract { re, keys } => match o {
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
            Fun::SplitKv { entry, kv } => match o {
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
            Fun::FromUrl => match o {
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
            Fun::Replace(pairs) => match o {
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
            Fun::Zip(a, b) => {
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
            Fun::Pop => match o {
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
            Fun::ToString => match o {
                J::Null => refuse(cx, label, ErrorKind::NulData, None),
                other => {
                    let v = J::Str(other.java_string());
                    cx.detail(label, || v.clone());
                    self.pass(id, &v, vals, cx)
                }
            },
        }
    }
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
