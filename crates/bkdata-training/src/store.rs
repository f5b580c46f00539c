//! The training store (`training_data`) and its search. Items are matched on `tokens`:
//! lower-case ASCII words (and the parts of snake_case words), and for CJK text each
//! character and each pair of adjacent characters, so Chinese questions match without a
//! word segmenter and independently of the database's locale. The score is the Jaccard
//! similarity of the query's tokens and the item's.
use bkdata_models::schema::training_data as td;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Double, Nullable, Text};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const TYPES: [&str; 3] = ["ddl", "documentation", "sql"];

fn cjk(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c) || ('\u{3400}'..='\u{4dbf}').contains(&c)
}

/// Search terms of a text, unique, in order of first appearance.
pub fn tokens(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |t: String| {
        if !out.contains(&t) {
            out.push(t);
        }
    };
    let mut word = String::new();
    let mut prev_cjk: Option<char> = None;
    let flush = |word: &mut String, add: &mut dyn FnMut(String)| {
        if !word.is_empty() {
            if word.contains('_') {
                for part in word.split('_').filter(|p| !p.is_empty()) {
                    add(part.to_string());
                }
            }
            add(std::mem::take(word));
        }
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            prev_cjk = None;
            word.push(c.to_ascii_lowercase());
        } else if cjk(c) {
            flush(&mut word, &mut add);
            add(c.to_string());
            if let Some(p) = prev_cjk {
                add(format!("{p}{c}"));
            }
            prev_cjk = Some(c);
        } else {
            flush(&mut word, &mut add);
            prev_cjk = None;
        }
    }
    flush(&mut word, &mut add);
    out
}

/// One item to store.
#[derive(Debug, Clone)]
pub struct Item {
    pub data_type: &'static str,
    pub question: Option<String>,
    pub content: String,
    pub source_file: String,
}

impl Item {
    fn hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.data_type.as_bytes());
        h.update([0]);
        h.update(self.question.as_deref().unwrap_or("").as_bytes());
        h.update([0]);
        h.update(self.content.as_bytes());
        hex::encode(h.finalize())
    }
    /// What a search matches: the question of a pair, the text of the others.
    fn search_text(&self) -> &str {
        self.question.as_deref().unwrap_or(&self.content)
    }
}

/// Store items in one transaction; an item already stored (same app, database, type and
/// content) is kept once. Answers (inserted, already present).
pub fn load(
    conn: &mut PgConnection,
    app: &str,
    db_name: &str,
    task_id: &str,
    items: &[Item],
) -> QueryResult<(usize, usize)> {
    conn.transaction(|conn| {
        let mut inserted = 0;
        for chunk in items.chunks(500) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|i| {
                    (
                        td::bk_app_code.eq(app),
                        td::db_name.eq(db_name),
                        td::data_type.eq(i.data_type),
                        td::question.eq(i.question.clone()),
                        td::content.eq(&i.content),
                        td::tokens.eq(tokens(i.search_text())),
                        td::content_hash.eq(i.hash()),
                        td::source_file.eq(&i.source_file),
                        td::task_id.eq(task_id),
                    )
                })
                .collect();
            inserted += diesel::insert_into(td::table)
                .values(rows)
                .on_conflict_do_nothing()
                .execute(conn)?;
        }
        Ok((inserted, items.len() - inserted))
    })
}

#[derive(Debug, Clone, Serialize, Deserialize, QueryableByName, PartialEq)]
pub struct Hit {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub data_type: String,
    #[diesel(sql_type = Text)]
    pub db_name: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub question: Option<String>,
    #[diesel(sql_type = Text)]
    pub content: String,
    #[diesel(sql_type = Text)]
    pub source_file: String,
    #[diesel(sql_type = Text)]
    pub task_id: String,
    #[diesel(sql_type = Double)]
    pub score: f64,
}

/// The items of an app closest to `q`, best first.
pub fn search(
    conn: &mut PgConnection,
    app: &str,
    q: &str,
    data_type: Option<&str>,
    db_name: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Hit>> {
    let terms = tokens(q);
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    diesel::sql_query(
        "SELECT id, data_type, db_name, question, content, source_file, task_id, score FROM (
           SELECT *, hits / (cardinality($2::text[]) + cardinality(tokens) - hits) AS score FROM (
             SELECT id, data_type, db_name, question, content, source_file, task_id, tokens,
                    (SELECT count(*) FROM unnest(tokens) t WHERE t = ANY($2))::float8 AS hits
             FROM training_data
             WHERE bk_app_code = $1 AND tokens && $2::text[]
               AND ($3::text IS NULL OR data_type = $3) AND ($4::text IS NULL OR db_name = $4)
           ) m
         ) s ORDER BY score DESC, id LIMIT $5",
    )
    .bind::<Text, _>(app)
    .bind::<Array<Text>, _>(&terms)
    .bind::<Nullable<Text>, _>(data_type)
    .bind::<Nullable<Text>, _>(db_name)
    .bind::<BigInt, _>(limit)
    .load(conn)
}

/// How many items an app has, by type.
pub fn counts(conn: &mut PgConnection, app: &str) -> QueryResult<Vec<(String, i64)>> {
    td::table
        .filter(td::bk_app_code.eq(app))
        .group_by(td::data_type)
        .select((td::data_type, diesel::dsl::count_star()))
        .order(td::data_type)
        .load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_of_mixed_text() {
        assert_eq!(
            tokens("服务区 service_area 2023"),
            vec![
                "服",
                "务",
                "服务",
                "区",
                "务区",
                "service",
                "area",
                "service_area",
                "2023"
            ]
        );
        assert!(tokens("  ,。").is_empty());
    }
}
