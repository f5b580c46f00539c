//! BKData is reached through several roots (wire reference §1.1): `/v3/…`, the gateway's
//! `/prod/v3/…`, `/api/c/compapi/data/v3/…`, `/api/bk-base/{env}/v3|v4/…`; clients also send
//! doubled slashes (seed 004 builds `…/prod/v3/` + `/dataflow/…`) and may drop the trailing
//! slash. Every form is rewritten to `/v3/…/` (or `/v4/…/`) before routing.
use axum::extract::Request;
use axum::http::Uri;

const ENVS: [&str; 4] = ["prod", "stag", "test", "dev"];

pub fn canonical_path(path: &str) -> Option<String> {
    let mut p = String::with_capacity(path.len() + 1);
    for c in path.chars() {
        if !(c == '/' && p.ends_with('/')) {
            p.push(c);
        }
    }
    let segs: Vec<&str> = p.split('/').collect(); // "", seg1, seg2, …
    let start = match segs.as_slice() {
        [_, "api", "c", "compapi", "data", v, ..] if is_version(v) => 5,
        [_, "api", "bk-base", env, v, ..] if ENVS.contains(env) && is_version(v) => 4,
        [_, env, v, ..] if ENVS.contains(env) && is_version(v) => 2,
        _ => 1,
    };
    if !segs.get(start).is_some_and(|v| is_version(v)) {
        return (p != path).then_some(p);
    }
    let mut out = format!("/{}", segs[start..].join("/"));
    if !out.ends_with('/') {
        out.push('/');
    }
    (out != path).then_some(out)
}

fn is_version(s: &str) -> bool {
    s == "v3" || s == "v4"
}

/// Rewrite the request's path in place (the query is kept).
pub fn rewrite(mut req: Request) -> Request {
    if let Some(path) = canonical_path(req.uri().path()) {
        let pq = match req.uri().query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = pq.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}

#[cfg(test)]
mod tests {
    use super::canonical_path as c;

    #[test]
    fn every_root_maps_to_v3() {
        let want = Some("/v3/databus/cleans/verify/".to_string());
        assert_eq!(c("/v3/databus/cleans/verify"), want);
        assert_eq!(c("/prod/v3/databus/cleans/verify/"), want);
        assert_eq!(c("/prod/v3//databus/cleans/verify/"), want);
        assert_eq!(c("/api/c/compapi/data/v3/databus/cleans/verify/"), want);
        assert_eq!(c("/api/bk-base/prod/v3/databus/cleans/verify/"), want);
        assert_eq!(
            c("/api/bk-base/stag/v4/databus/clean/debug/"),
            Some("/v4/databus/clean/debug/".into())
        );
        assert_eq!(c("/v3/databus/cleans/verify/"), None);
        assert_eq!(c("/api/v0/data_pipeline/tasks"), None);
        assert_eq!(
            c("/api/v0//data_pipeline/tasks"),
            Some("/api/v0/data_pipeline/tasks".into())
        );
        assert_eq!(c("/healthz"), None);
    }
}
