//! Reading the values of provider webhooks, shared by the Gupshup and Meta parsers: both write
//! numbers and timestamps sometimes as JSON numbers, sometimes as strings.
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

/// An integer written as a number or a numeric string (`1002`, `"1002"`).
fn int(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

/// Unix seconds, as a number or a string.
pub(super) fn seconds(value: &Value) -> Option<DateTime<Utc>> {
    int(value).and_then(|s| Utc.timestamp_opt(s, 0).single())
}

/// Unix milliseconds, as a number or a string.
pub(super) fn millis(value: &Value) -> Option<DateTime<Utc>> {
    int(value).and_then(|ms| Utc.timestamp_millis_opt(ms).single())
}

/// A provider's error code as text: `1002` and `"1002"` both read `1002`; an empty string or
/// another JSON type is no code. Codes are classified as text (`provider::outcome::classify`).
pub(super) fn error_code(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_and_numeric_strings_read_alike() {
        assert_eq!(int(&json!(1002)), Some(1002));
        assert_eq!(int(&json!(" 1002 ")), Some(1002));
        assert_eq!(int(&json!("x")), None);
        assert_eq!(error_code(&json!(131048)), Some("131048".into()));
        assert_eq!(error_code(&json!(" 1002")), Some("1002".into()));
        assert_eq!(error_code(&json!("")), None);
        assert_eq!(error_code(&json!(null)), None);
        assert_eq!(
            seconds(&json!("1700000000")),
            millis(&json!(1_700_000_000_000i64))
        );
    }
}
