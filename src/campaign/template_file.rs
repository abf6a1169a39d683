//! Reading `[template]`'s `header`, `body` (alias `params`) and `buttons` from the campaign file
//! into [`TemplateParts`], with every problem placed at its byte offset and dotted key.
//!
//! The values arrive as `toml::Value` (a header or a parameter takes several shapes); to place
//! a problem at the element rather than at the key, an inline array or table is parsed once
//! more from its own text, which gives each element its span.
use std::collections::BTreeSet;

use serde::Deserialize;
use toml::{Spanned, Value};

use super::params::ValueShape;
use super::template_spec::{
    slot, ButtonKind, ButtonSpec, HeaderSpec, ParamSpec, TemplateParts, ValueSpec,
};
use crate::provider::MediaKind;

/// A problem at a byte offset of the campaign file.
pub(crate) struct Placed {
    pub offset: usize,
    pub key: String,
    pub message: String,
}

/// The raw `[template]` parts, as serde found them.
pub(crate) struct RawParts {
    pub header: Option<Spanned<Value>>,
    pub body: Option<Spanned<Value>>,
    pub buttons: Option<Spanned<Value>>,
    /// `template.body` or `template.params`, as written.
    pub body_key: &'static str,
}

/// Reads the parts; problems go to `problems`.
pub(crate) fn read_parts(text: &str, raw: RawParts, problems: &mut Vec<Placed>) -> TemplateParts {
    let mut r = Reader { text, problems };
    let header = raw.header.and_then(|h| r.header(&h));
    let body = raw
        .body
        .map(|b| r.params(&b, raw.body_key))
        .unwrap_or_default();
    let buttons = raw.buttons.map(|b| r.buttons(&b)).unwrap_or_default();
    TemplateParts {
        header,
        body,
        buttons,
    }
}

struct Reader<'a> {
    text: &'a str,
    problems: &'a mut Vec<Placed>,
}

#[derive(Deserialize)]
struct Items {
    v: Vec<Spanned<Value>>,
}

impl Reader<'_> {
    fn at(&mut self, offset: usize, key: &str, message: impl Into<String>) {
        self.problems.push(Placed {
            offset,
            key: key.to_string(),
            message: message.into(),
        });
    }

    /// The elements of an inline array with their own spans (falling back to the array's).
    fn items(&self, value: &Spanned<Value>) -> Vec<Spanned<Value>> {
        let span = value.span();
        let reparsed = self
            .text
            .get(span.clone())
            .and_then(|src| toml::from_str::<Items>(&format!("v = {src}")).ok());
        match (reparsed, value.get_ref()) {
            (Some(items), _) => items
                .v
                .into_iter()
                .map(|i| {
                    let s = i.span();
                    let shift = span.start.saturating_sub(4);
                    Spanned::new(s.start + shift..s.end + shift, i.into_inner())
                })
                .collect(),
            (None, Value::Array(a)) => a
                .iter()
                .map(|v| Spanned::new(span.clone(), v.clone()))
                .collect(),
            (None, _) => Vec::new(),
        }
    }

    fn header(&mut self, h: &Spanned<Value>) -> Option<HeaderSpec> {
        let at = h.span().start;
        let Some(t) = h.get_ref().as_table() else {
            self.at(
                at,
                "template.header",
                "expected a table like { type = \"image\", link = \"https://...\" }",
            );
            return None;
        };
        let allowed: &[&str] = match t.get("type").and_then(Value::as_str) {
            Some("text") => &["type", "params"],
            Some("document") => &["type", "link", "filename"],
            _ => &["type", "link"],
        };
        for k in t.keys().filter(|k| !allowed.contains(&k.as_str())) {
            let msg = format!("unknown key `{k}`, expected {}", allowed.join(", "));
            self.at(at, &format!("template.header.{k}"), msg);
        }
        let kind = match t.get("type").and_then(Value::as_str) {
            Some("image") => MediaKind::Image,
            Some("video") => MediaKind::Video,
            Some("document") => MediaKind::Document,
            Some("text") => {
                let params = match t.get("params") {
                    Some(p) => {
                        self.params(&Spanned::new(h.span(), p.clone()), "template.header.params")
                    }
                    None => Vec::new(),
                };
                return Some(HeaderSpec::Text(params));
            }
            other => {
                let msg = format!(
                    "header type {} is not known, expected \"image\", \"video\", \"document\" or \"text\"",
                    other.map(|o| format!("`{o}`")).unwrap_or_else(|| "missing".into())
                );
                self.at(at, "template.header.type", msg);
                return None;
            }
        };
        let link = match t.get("link").and_then(Value::as_str) {
            Some(l) => l,
            None => {
                self.at(
                    at,
                    "template.header.link",
                    "a media header needs `link = \"https://...\"`",
                );
                return None;
            }
        };
        let link = self.text_slot(at, "template.header.link", link, ValueShape::HttpsLink)?;
        let prefix = link.literal_prefix();
        if !(prefix.starts_with("https://") || "https://".starts_with(prefix)) {
            self.at(
                at,
                "template.header.link",
                "media link must be an https:// URL",
            );
        }
        let filename = match t.get("filename") {
            None => None,
            Some(Value::String(f)) => {
                self.text_slot(at, "template.header.filename", f, ValueShape::Text)
            }
            Some(_) => {
                self.at(at, "template.header.filename", "expected a text");
                None
            }
        };
        Some(HeaderSpec::Media {
            kind,
            link,
            filename,
        })
    }

    /// A positional list, or a table of named parameters.
    fn params(&mut self, value: &Spanned<Value>, key: &str) -> Vec<ParamSpec> {
        match value.get_ref() {
            Value::Array(_) => self
                .items(value)
                .iter()
                .enumerate()
                .filter_map(|(i, item)| self.param(item, &format!("{key}[{i}]"), None))
                .collect(),
            Value::Table(t) => {
                // The table's keys in the order the file writes them (TOML tables are sorted
                // when parsed); Gupshup's `params` is positional.
                let src = self.text.get(value.span()).unwrap_or_default();
                let at = |name: &str| {
                    [
                        format!("{name} ="),
                        format!("{name}="),
                        format!("\"{name}\""),
                    ]
                    .iter()
                    .filter_map(|p| src.find(p.as_str()))
                    .min()
                    .unwrap_or(usize::MAX)
                };
                let mut ordered: Vec<(&String, &Value)> = t.iter().collect();
                ordered.sort_by_key(|(name, _)| at(name));
                ordered
                    .into_iter()
                    .filter_map(|(name, v)| {
                        let item = Spanned::new(value.span(), v.clone());
                        self.param(&item, &format!("{key}.{name}"), Some(name.clone()))
                    })
                    .collect()
            }
            _ => {
                self.at(
                    value.span().start,
                    key,
                    "expected a list of parameters, or a table of named parameters",
                );
                Vec::new()
            }
        }
    }

    fn param(
        &mut self,
        item: &Spanned<Value>,
        key: &str,
        name: Option<String>,
    ) -> Option<ParamSpec> {
        let at = item.span().start;
        let value = match item.get_ref() {
            Value::String(s) => ValueSpec::Text(self.text_slot(at, key, s, ValueShape::Text)?),
            Value::Integer(_) | Value::Float(_) => {
                let s = item.get_ref().to_string();
                ValueSpec::Text(self.text_slot(at, key, &s, ValueShape::Text)?)
            }
            Value::Table(t) if t.len() == 1 && t.contains_key("currency") => {
                let c = t.get("currency").and_then(Value::as_table);
                let field = |f: &str| {
                    c.and_then(|c| c.get(f)).map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                };
                let (Some(code), Some(amount), Some(fallback)) =
                    (field("code"), field("amount_1000"), field("fallback"))
                else {
                    self.at(at, &format!("{key}.currency"), "expected { code = \"BRL\", amount_1000 = \"{{column}}\", fallback = \"R$ ...\" }");
                    return None;
                };
                if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
                    self.at(
                        at,
                        &format!("{key}.currency.code"),
                        format!("`{code}` is not an ISO 4217 code, expected e.g. \"BRL\""),
                    );
                }
                let amount_1000 = self.text_slot(
                    at,
                    &format!("{key}.currency.amount_1000"),
                    &amount,
                    ValueShape::Integer,
                )?;
                let fallback = self.text_slot(
                    at,
                    &format!("{key}.currency.fallback"),
                    &fallback,
                    ValueShape::Text,
                )?;
                ValueSpec::Currency {
                    code,
                    amount_1000,
                    fallback,
                }
            }
            Value::Table(t) if t.len() == 1 && t.contains_key("date_time") => {
                let Some(fallback) = t
                    .get("date_time")
                    .and_then(Value::as_table)
                    .and_then(|d| d.get("fallback"))
                    .and_then(Value::as_str)
                else {
                    self.at(
                        at,
                        &format!("{key}.date_time"),
                        "expected { fallback = \"...\" }",
                    );
                    return None;
                };
                let fallback = self.text_slot(
                    at,
                    &format!("{key}.date_time.fallback"),
                    fallback,
                    ValueShape::Text,
                )?;
                ValueSpec::DateTime { fallback }
            }
            _ => {
                self.at(
                    at,
                    key,
                    "expected a text, { currency = {...} } or { date_time = {...} }",
                );
                return None;
            }
        };
        Some(ParamSpec { name, value })
    }

    fn buttons(&mut self, value: &Spanned<Value>) -> Vec<ButtonSpec> {
        if !matches!(value.get_ref(), Value::Array(_)) {
            self.at(
                value.span().start,
                "template.buttons",
                "expected a list of buttons",
            );
            return Vec::new();
        }
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for (i, item) in self.items(value).iter().enumerate() {
            let key = format!("template.buttons[{i}]");
            let at = item.span().start;
            let Some(t) = item.get_ref().as_table() else {
                self.at(
                    at,
                    &key,
                    "expected a table like { type = \"url\", index = 0, param = \"{{column}}\" }",
                );
                continue;
            };
            let kind = match t.get("type").and_then(Value::as_str) {
                Some("url") => ButtonKind::Url,
                Some("quick_reply") => ButtonKind::QuickReply,
                Some("copy_code") => ButtonKind::CopyCode,
                other => {
                    let msg = format!("button type {} is not known, expected \"url\", \"quick_reply\" or \"copy_code\"",
                        other.map(|o| format!("`{o}`")).unwrap_or_else(|| "missing".into()));
                    self.at(at, &format!("{key}.type"), msg);
                    continue;
                }
            };
            for k in t
                .keys()
                .filter(|k| !["type", "index", kind.value_key()].contains(&k.as_str()))
            {
                let msg = format!(
                    "unknown key `{k}` for a {kind} button, expected type, index, {}",
                    kind.value_key()
                );
                self.at(at, &format!("{key}.{k}"), msg);
            }
            let index = match t.get("index").and_then(Value::as_integer) {
                Some(n @ 0..=9) => n as u8,
                _ => {
                    self.at(
                        at,
                        &format!("{key}.index"),
                        "expected the button's position in the template, 0 to 9",
                    );
                    continue;
                }
            };
            if !seen.insert(index) {
                self.at(
                    at,
                    &format!("{key}.index"),
                    format!("index {index} is given twice, expected one entry per button"),
                );
            }
            let Some(v) = t.get(kind.value_key()).and_then(Value::as_str) else {
                let msg = format!("a {kind} button needs `{} = \"...\"`", kind.value_key());
                self.at(at, &format!("{key}.{}", kind.value_key()), msg);
                continue;
            };
            let Some(value) = self.text_slot(
                at,
                &format!("{key}.{}", kind.value_key()),
                v,
                ValueShape::Text,
            ) else {
                continue;
            };
            out.push(ButtonSpec { index, kind, value });
        }
        out.sort_by_key(|b| b.index);
        out
    }

    /// Parses one text; an empty literal is refused (WhatsApp refuses it for every contact).
    fn text_slot(
        &mut self,
        at: usize,
        key: &str,
        source: &str,
        shape: ValueShape,
    ) -> Option<super::params::ParamTemplate> {
        match slot(source, key, shape) {
            Ok(p) if p.is_empty_literal() => {
                self.at(at, key, "empty parameter, expected text or a {{column}}: WhatsApp refuses empty parameters (132000)");
                None
            }
            Ok(p) => Some(p),
            Err(e) => {
                self.at(at, key, e.to_string());
                None
            }
        }
    }
}
