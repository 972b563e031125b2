//! Building Graph query strings: OData string literals and percent-encoding.
//!
//! Kept apart from the client so the quoting rules (the one place user input reaches a
//! query) are easy to read and test.

/// Quote `value` as an OData string literal: wrap it in `'` and double any `'` inside.
pub fn string_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Percent-encode a query-string value. Spaces become `%20` rather than `+`, because
/// OData parsers do not all treat `+` as a space.
pub fn encode_query_value(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        // byte_serialize writes a literal `+` as `%2B`, so every `+` left is a space.
        .replace('+', "%20")
}

/// Build `path?$k1=v1&$k2=v2` with every value encoded. Keys are OData system query
/// options (`$filter`, `$select`, `$top`), written as-is.
pub fn with_query(path: &str, options: &[(&str, &str)]) -> String {
    let mut out = String::from(path);
    for (i, (key, value)) in options.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(key);
        out.push('=');
        out.push_str(&encode_query_value(value));
    }
    out
}

/// `$filter` expression `property eq 'value'`.
pub fn eq_filter(property: &str, value: &str) -> String {
    format!("{property} eq {}", string_literal(value))
}

/// `$filter` expression matching a value in a string collection (e.g. `tags`).
pub fn any_eq_filter(collection: &str, value: &str) -> String {
    format!("{collection}/any(t:t eq {})", string_literal(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_doubled_inside_literals() {
        assert_eq!(string_literal("O'Brien"), "'O''Brien'");
        assert_eq!(string_literal("''"), "''''''");
        assert_eq!(eq_filter("displayName", "it's"), "displayName eq 'it''s'");
    }

    #[test]
    fn values_are_percent_encoded_with_space_as_percent_20() {
        let q = with_query(
            "/applications",
            &[("$filter", "displayName eq 'a b&c+d#'"), ("$top", "5")],
        );
        assert_eq!(
            q,
            "/applications?$filter=displayName%20eq%20%27a%20b%26c%2Bd%23%27&$top=5"
        );
    }

    #[test]
    fn tag_filter_uses_the_any_lambda() {
        assert_eq!(
            any_eq_filter("tags", "msgraph-keystore:x"),
            "tags/any(t:t eq 'msgraph-keystore:x')"
        );
    }
}
