//! Settings from the environment, read one way everywhere: an empty variable is unset, a
//! number that does not parse is an error naming the variable.

/// The variable's value, `None` when unset or empty.
pub fn var(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

/// The variable as a number, `default` when unset.
pub fn num<T: std::str::FromStr>(k: &str, default: T) -> Result<T, String> {
    match var(k) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("{k} must be a number, got {v:?}")),
    }
}
