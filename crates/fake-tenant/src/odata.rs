//! The slice of OData that Graph clients use for directory lookups: `$filter` (`eq` on a
//! property, `tags/any(t:t eq '…')`, `startswith(…)`, joined with `and`/`or`), `$select`,
//! `$top` and `$skiptoken` paging.
//!
//! String comparisons ignore case, as Entra's directory does: a client that needs an exact
//! display-name match has to check the results itself.

use serde_json::{Map, Value};

use super::reply::GraphError;

/// The system query options of one request.
#[derive(Debug, Default, Clone)]
pub struct QueryOptions {
    pub filter: Option<Filter>,
    pub select: Option<Vec<String>>,
    pub top: Option<usize>,
    pub skip: usize,
    /// Every query parameter except `$skiptoken`, in order, to rebuild `@odata.nextLink`.
    pub passthrough: Vec<(String, String)>,
}

impl QueryOptions {
    pub fn parse(raw: Option<&str>) -> Result<QueryOptions, GraphError> {
        let mut q = QueryOptions::default();
        let Some(raw) = raw else { return Ok(q) };
        for (key, value) in url::form_urlencoded::parse(raw.as_bytes()) {
            let key = key.into_owned();
            let value = value.into_owned();
            match key.to_ascii_lowercase().as_str() {
                "$filter" => q.filter = Some(Filter::parse(&value)?),
                "$select" => {
                    q.select = Some(
                        value
                            .split(',')
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                            .collect(),
                    )
                }
                "$top" => {
                    let n: usize = value.trim().parse().unwrap_or(0);
                    if !(1..=999).contains(&n) {
                        return Err(GraphError::bad_request(format!(
                            "Invalid page size specified: '{value}'. Must be between 1 and 999 inclusive."
                        )));
                    }
                    q.top = Some(n);
                }
                "$skiptoken" => {
                    q.skip = decode_skiptoken(&value).ok_or_else(|| {
                        GraphError::bad_request("Specified skip token is invalid.")
                    })?;
                    continue;
                }
                _ => {}
            }
            q.passthrough.push((key, value));
        }
        Ok(q)
    }

    /// Keep only the `$select`ed top-level properties (names match ignoring case).
    pub fn project(&self, item: Value) -> Value {
        let (Some(select), Value::Object(map)) = (&self.select, &item) else {
            return item;
        };
        let mut out = Map::new();
        for (k, v) in map {
            if k.starts_with("@odata.") || select.iter().any(|s| s.eq_ignore_ascii_case(k)) {
                out.insert(k.clone(), v.clone());
            }
        }
        Value::Object(out)
    }
}

/// Items on a page when the request has no `$top` (Graph's default page size).
pub const DEFAULT_PAGE: usize = 100;

/// Build the `value`/`@odata.nextLink` page for `items` (already filtered).
/// `self_url` is the absolute URL of the collection, without a query.
pub fn page(
    q: &QueryOptions,
    page_size: usize,
    items: Vec<Value>,
    self_url: &str,
) -> (Vec<Value>, Option<String>) {
    // Graph pages 100 items unless `$top` asks for more (up to 999); the knob caps both.
    let size = q.top.unwrap_or(DEFAULT_PAGE).min(page_size).max(1);
    let total = items.len();
    let start = q.skip.min(total);
    let end = (start + size).min(total);
    let value = items
        .into_iter()
        .skip(start)
        .take(end - start)
        .map(|v| q.project(v))
        .collect();
    let next = (end < total).then(|| {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &q.passthrough {
            ser.append_pair(k, v);
        }
        ser.append_pair("$skiptoken", &encode_skiptoken(end));
        format!("{self_url}?{}", ser.finish())
    });
    (value, next)
}

fn encode_skiptoken(offset: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("fake-offset:{offset}"))
}

fn decode_skiptoken(token: &str) -> Option<usize> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim())
        .ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("fake-offset:")?
        .parse()
        .ok()
}

/// A parsed `$filter` expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Eq(String, Literal),
    AnyEq(String, Literal),
    StartsWith(String, String),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
}

/// A literal on the right of `eq`: a quoted string, or a bare token (GUID, number, true…).
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Null,
    Bool(bool),
    Bare(String),
}

impl Filter {
    pub fn parse(text: &str) -> Result<Filter, GraphError> {
        let tokens = tokenize(text).ok_or_else(|| invalid_filter(text))?;
        let mut p = Parser { tokens, pos: 0 };
        let f = p.or_expr().ok_or_else(|| invalid_filter(text))?;
        if p.pos != p.tokens.len() {
            return Err(invalid_filter(text));
        }
        Ok(f)
    }

    /// Whether the filter looks an object up by key (`id eq …` / `appId eq …`): those lookups
    /// do not see objects that have not replicated yet.
    pub fn is_key_lookup(&self) -> bool {
        match self {
            Filter::Eq(prop, _) => {
                prop.eq_ignore_ascii_case("id") || prop.eq_ignore_ascii_case("appId")
            }
            Filter::And(a, b) | Filter::Or(a, b) => a.is_key_lookup() || b.is_key_lookup(),
            _ => false,
        }
    }

    pub fn matches(&self, item: &Value) -> bool {
        match self {
            Filter::Eq(prop, lit) => lit.matches(property(item, prop)),
            Filter::AnyEq(prop, lit) => match property(item, prop) {
                Some(Value::Array(values)) => values.iter().any(|v| lit.matches(Some(v))),
                _ => false,
            },
            Filter::StartsWith(prop, prefix) => match property(item, prop) {
                Some(Value::String(s)) => s.to_lowercase().starts_with(&prefix.to_lowercase()),
                _ => false,
            },
            Filter::And(a, b) => a.matches(item) && b.matches(item),
            Filter::Or(a, b) => a.matches(item) || b.matches(item),
        }
    }
}

impl Literal {
    fn matches(&self, value: Option<&Value>) -> bool {
        match (self, value) {
            (Literal::Null, None | Some(Value::Null)) => true,
            (Literal::Str(s) | Literal::Bare(s), Some(Value::String(v))) => {
                v.to_lowercase() == s.to_lowercase()
            }
            (Literal::Bool(b), Some(Value::Bool(v))) => b == v,
            (Literal::Bare(s), Some(Value::Number(n))) => n.to_string() == *s,
            _ => false,
        }
    }
}

fn property<'a>(item: &'a Value, name: &str) -> Option<&'a Value> {
    item.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn invalid_filter(text: &str) -> GraphError {
    GraphError::new(
        axum::http::StatusCode::BAD_REQUEST,
        "BadRequest",
        format!("Invalid filter clause: the fake tenant does not understand `{text}` (it supports `prop eq 'value'`, `tags/any(t:t eq 'value')`, `startswith(prop,'value')`, `and`, `or`)."),
    )
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Punct(char),
}

fn tokenize(text: &str) -> Option<Vec<Token>> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next()? {
                    // OData escapes a quote inside a string literal by doubling it.
                    '\'' if chars.peek() == Some(&'\'') => {
                        chars.next();
                        s.push('\'');
                    }
                    '\'' => break,
                    other => s.push(other),
                }
            }
            out.push(Token::Str(s));
        } else if "()/:,".contains(c) {
            chars.next();
            out.push(Token::Punct(c));
        } else if c.is_alphanumeric() || "_.-@$".contains(c) {
            let mut w = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_alphanumeric() || "_.-@$".contains(c) {
                    w.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(Token::Word(w));
        } else {
            return None;
        }
    }
    Some(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn keyword(&mut self, kw: &str) -> bool {
        if matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn punct(&mut self, p: char) -> Option<()> {
        (self.next()? == Token::Punct(p)).then_some(())
    }

    fn word(&mut self) -> Option<String> {
        match self.next()? {
            Token::Word(w) => Some(w),
            _ => None,
        }
    }

    fn or_expr(&mut self) -> Option<Filter> {
        let mut left = self.and_expr()?;
        while self.keyword("or") {
            left = Filter::Or(Box::new(left), Box::new(self.and_expr()?));
        }
        Some(left)
    }

    fn and_expr(&mut self) -> Option<Filter> {
        let mut left = self.term()?;
        while self.keyword("and") {
            left = Filter::And(Box::new(left), Box::new(self.term()?));
        }
        Some(left)
    }

    fn term(&mut self) -> Option<Filter> {
        if self.peek() == Some(&Token::Punct('(')) {
            self.pos += 1;
            let inner = self.or_expr()?;
            self.punct(')')?;
            return Some(inner);
        }
        let name = self.word()?;
        if name.eq_ignore_ascii_case("startswith") {
            self.punct('(')?;
            let prop = self.word()?;
            self.punct(',')?;
            let Token::Str(prefix) = self.next()? else {
                return None;
            };
            self.punct(')')?;
            return Some(Filter::StartsWith(prop, prefix));
        }
        if self.peek() == Some(&Token::Punct('/')) {
            // collection/any(v:v eq literal)
            self.pos += 1;
            if !self.keyword("any") {
                return None;
            }
            self.punct('(')?;
            let var = self.word()?;
            self.punct(':')?;
            if self.word()? != var || !self.keyword("eq") {
                return None;
            }
            let lit = self.literal()?;
            self.punct(')')?;
            return Some(Filter::AnyEq(name, lit));
        }
        if !self.keyword("eq") {
            return None;
        }
        Some(Filter::Eq(name, self.literal()?))
    }

    fn literal(&mut self) -> Option<Literal> {
        Some(match self.next()? {
            Token::Str(s) => Literal::Str(s),
            Token::Word(w) if w == "null" => Literal::Null,
            Token::Word(w) if w == "true" => Literal::Bool(true),
            Token::Word(w) if w == "false" => Literal::Bool(false),
            Token::Word(w) => Literal::Bare(w),
            Token::Punct(_) => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_filters_clients_send() {
        assert_eq!(
            Filter::parse("displayName eq 'O''Brien app'").ok(),
            Some(Filter::Eq(
                "displayName".into(),
                Literal::Str("O'Brien app".into())
            ))
        );
        assert_eq!(
            Filter::parse("tags/any(t:t eq 'marker')").ok(),
            Some(Filter::AnyEq("tags".into(), Literal::Str("marker".into())))
        );
        let f = Filter::parse(
            "principalId eq 5d0b3f0a-1111-2222-3333-444455556666 and appRoleId eq 'x'",
        );
        assert!(matches!(f, Ok(Filter::And(..))));
        assert!(Filter::parse("displayName ne 'x'").is_err());
        assert!(Filter::parse("displayName eq 'unterminated").is_err());
        assert!(Filter::parse("tags/any(t:u eq 'x')").is_err());
    }

    #[test]
    fn evaluates_case_insensitively() {
        let app = json!({"displayName": "Elastic Realm", "appId": "AB-cd", "tags": ["one", "Two"], "n": 3});
        let yes = [
            "displayName eq 'elastic realm'",
            "appId eq 'ab-CD'",
            "tags/any(x:x eq 'two')",
            "startswith(displayName,'elastic')",
            "displayName eq 'nope' or n eq 3",
            "(appId eq 'ab-cd') and tags/any(t:t eq 'one')",
        ];
        for f in yes {
            assert!(
                Filter::parse(f).map(|f| f.matches(&app)).unwrap_or(false),
                "{f}"
            );
        }
        for f in [
            "displayName eq 'Elastic'",
            "tags/any(t:t eq 'three')",
            "notes eq 'x'",
        ] {
            assert!(
                !Filter::parse(f).map(|f| f.matches(&app)).unwrap_or(true),
                "{f}"
            );
        }
        assert!(Filter::parse("notes eq null")
            .map(|f| f.matches(&app))
            .unwrap_or(false));
        assert!(Filter::parse("appId eq 'x'")
            .map(|f| f.is_key_lookup())
            .unwrap_or(false));
        assert!(!Filter::parse("displayName eq 'x'")
            .map(|f| f.is_key_lookup())
            .unwrap_or(true));
    }

    #[test]
    fn pages_with_next_links_that_keep_the_query() {
        let q = QueryOptions::parse(Some("$filter=displayName%20eq%20'a'&$select=id"))
            .unwrap_or_default();
        let items: Vec<Value> = (0..3)
            .map(|i| json!({"id": i, "displayName": "a"}))
            .collect();
        let (first, next) = page(&q, 2, items.clone(), "http://h/v1.0/applications");
        assert_eq!(first, vec![json!({"id": 0}), json!({"id": 1})]);
        let next = next.unwrap_or_default();
        assert!(
            next.starts_with("http://h/v1.0/applications?%24filter="),
            "{next}"
        );
        let query = next.split_once('?').map(|(_, q)| q);
        let q2 = QueryOptions::parse(query).unwrap_or_default();
        assert_eq!(q2.skip, 2);
        let (second, last) = page(&q2, 2, items, "http://h/v1.0/applications");
        assert_eq!(second, vec![json!({"id": 2})]);
        assert_eq!(last, None);
        assert!(QueryOptions::parse(Some("$top=0")).is_err());
        assert!(QueryOptions::parse(Some("$skiptoken=garbage")).is_err());
    }

    #[test]
    fn pages_hold_100_by_default_and_up_to_999_with_top() {
        let items: Vec<Value> = (0..1200).map(|i| json!({ "id": i })).collect();
        let none = QueryOptions::default();
        let (first, next) = page(&none, 999, items.clone(), "http://h/v1.0/x");
        assert_eq!((first.len(), next.is_some()), (DEFAULT_PAGE, true));
        let top = QueryOptions::parse(Some("%24select=id&%24top=999")).unwrap_or_default();
        assert_eq!(top.top, Some(999), "Kiota writes `$` as %24");
        let (first, next) = page(&top, 999, items.clone(), "http://h/v1.0/x");
        assert_eq!(first.len(), 999);
        let next = next.unwrap_or_default();
        assert!(
            next.contains("%24select=id&%24top=999&%24skiptoken="),
            "{next}"
        );
        // The server-side cap wins over `$top` (Graph may return fewer than asked).
        let (first, _) = page(&top, 250, items, "http://h/v1.0/x");
        assert_eq!(first.len(), 250);
    }
}
