//! An optional OpenAI-compatible chat endpoint (`BKDATA_LLM_URL`, `BKDATA_LLM_KEY`,
//! `BKDATA_LLM_MODEL`, `BKDATA_LLM_TIMEOUT_S`). Steps work without it; with it, they ask it
//! for pairs and repairs, and fall back to the schema generator when it fails.
use serde_json::{json, Value};
use std::time::Duration;

pub struct Llm {
    url: String,
    key: Option<String>,
    model: String,
    client: reqwest::blocking::Client,
}

use bkdata_models::env::var as env;

impl Llm {
    /// The configured endpoint, if any.
    pub fn from_env() -> Option<Llm> {
        let base = env("BKDATA_LLM_URL")?;
        let url = if base.trim_end_matches('/').ends_with("/chat/completions") {
            base
        } else {
            format!("{}/chat/completions", base.trim_end_matches('/'))
        };
        let timeout = env("BKDATA_LLM_TIMEOUT_S")
            .and_then(|v| v.parse().ok())
            .unwrap_or(60);
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(timeout))
            .build()
            .ok()?;
        Some(Llm {
            url,
            key: env("BKDATA_LLM_KEY"),
            model: env("BKDATA_LLM_MODEL").unwrap_or_else(|| "gpt-4o-mini".into()),
            client,
        })
    }

    /// The endpoint without credentials, for logs.
    pub fn shown(&self) -> String {
        format!("{} (model {})", self.url, self.model)
    }

    /// One chat turn; the answer's text.
    pub fn chat(&self, system: &str, user: &str) -> Result<String, String> {
        let body = json!({
            "model": self.model,
            "temperature": 0.2,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        });
        let mut req = self.client.post(&self.url).json(&body);
        if let Some(k) = &self.key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().map_err(|e| format!("request failed: {e}"))?;
        let status = resp.status();
        let v: Value = resp
            .json()
            .map_err(|e| format!("HTTP {status}: the answer is not JSON: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "HTTP {status}: {}",
                v["error"]["message"].as_str().unwrap_or("")
            ));
        }
        v["choices"][0]["message"]["content"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| "the answer has no choices[0].message.content".into())
    }
}

/// The first JSON value of a kind (`[` or `{`) inside a model's answer (which may wrap it in
/// prose or a code fence).
pub fn json_in(text: &str, open: char, close: char) -> Option<Value> {
    let a = text.find(open)?;
    let b = text.rfind(close)?;
    (b > a)
        .then(|| serde_json::from_str(&text[a..=b]).ok())
        .flatten()
}
