//! A template's fillable parts as the campaign file writes them: the header (media by link, or
//! text with parameters), the body (positional, or named for `parameter_format: NAMED`), typed
//! parameters (currency, date_time) and buttons (URL suffix, quick-reply payload, copy code),
//! after Meta's component reference
//! (developers.facebook.com/docs/whatsapp/cloud-api/reference/messages#components-object).
//!
//! Every text here may hold `{{column}}` placeholders. They are flattened into one list of
//! [`ParamTemplate`] slots ([`TemplateParts::slots`]) that the audience reader fills per row
//! (skipping a row whose value is missing, as for body parameters), and [`TemplateParts::fill`]
//! puts one row's values back into the provider's shapes. Slots and fill walk the parts in the
//! same order: header, body, buttons.
use std::fmt;

use super::params::{ParamTemplate, ValueShape};
use crate::provider::{Button, Media, Param, ParamValue};

/// The fillable parts of one template.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TemplateParts {
    pub header: Option<HeaderSpec>,
    pub body: Vec<ParamSpec>,
    pub buttons: Vec<ButtonSpec>,
}

/// The template's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderSpec {
    Media {
        kind: crate::provider::MediaKind,
        link: ParamTemplate,
        /// Shown to the customer for a document.
        filename: Option<ParamTemplate>,
    },
    Text(Vec<ParamSpec>),
}

/// One header or body parameter; `name` is set for named parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSpec {
    pub name: Option<String>,
    pub value: ValueSpec,
}

/// A parameter's value as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueSpec {
    Text(ParamTemplate),
    Currency {
        /// ISO 4217, e.g. `BRL`.
        code: String,
        amount_1000: ParamTemplate,
        fallback: ParamTemplate,
    },
    DateTime {
        fallback: ParamTemplate,
    },
}

/// One button with a per-message value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ButtonSpec {
    /// The button's position in the template, 0-based.
    pub index: u8,
    pub kind: ButtonKind,
    pub value: ParamTemplate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonKind {
    Url,
    QuickReply,
    CopyCode,
}

impl ButtonKind {
    /// The campaign file's (and Meta's `sub_type`) name.
    pub fn as_str(self) -> &'static str {
        match self {
            ButtonKind::Url => "url",
            ButtonKind::QuickReply => "quick_reply",
            ButtonKind::CopyCode => "copy_code",
        }
    }

    /// The key holding the button's value in the campaign file.
    pub fn value_key(self) -> &'static str {
        match self {
            ButtonKind::Url => "param",
            ButtonKind::QuickReply => "payload",
            ButtonKind::CopyCode => "code",
        }
    }
}

impl fmt::Display for ButtonKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row's values put back into the provider's shapes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FilledParts {
    pub media: Option<Media>,
    pub header_params: Vec<Param>,
    pub params: Vec<Param>,
    pub buttons: Vec<Button>,
}

impl TemplateParts {
    /// Every fillable text, in the order [`Self::fill`] reads the values back.
    pub fn slots(&self) -> Vec<ParamTemplate> {
        let mut out = Vec::new();
        match &self.header {
            Some(HeaderSpec::Media { link, filename, .. }) => {
                out.push(link.clone());
                out.extend(filename.clone());
            }
            Some(HeaderSpec::Text(params)) => params.iter().for_each(|p| p.push_slots(&mut out)),
            None => {}
        }
        self.body.iter().for_each(|p| p.push_slots(&mut out));
        out.extend(self.buttons.iter().map(|b| b.value.clone()));
        out
    }

    /// One row's rendered slot values (as many as [`Self::slots`], in its order) in the
    /// provider's shapes. A missing value reads as empty; an `amount_1000` that is not a whole
    /// number reads as 0 (the audience reader skips such rows before they get here).
    pub fn fill(&self, values: &[String]) -> FilledParts {
        let mut next = values.iter().cloned();
        let mut take = || next.next().unwrap_or_default();
        let mut filled = FilledParts::default();
        match &self.header {
            Some(HeaderSpec::Media { kind, filename, .. }) => {
                let link = take();
                filled.media = Some(Media {
                    kind: *kind,
                    link,
                    filename: filename.as_ref().map(|_| take()),
                });
            }
            Some(HeaderSpec::Text(params)) => {
                filled.header_params = params.iter().map(|p| p.fill(&mut take)).collect();
            }
            None => {}
        }
        filled.params = self.body.iter().map(|p| p.fill(&mut take)).collect();
        filled.buttons = self
            .buttons
            .iter()
            .map(|b| {
                let index = b.index;
                match b.kind {
                    ButtonKind::Url => Button::Url {
                        index,
                        text: take(),
                    },
                    ButtonKind::QuickReply => Button::QuickReply {
                        index,
                        payload: take(),
                    },
                    ButtonKind::CopyCode => Button::CopyCode {
                        index,
                        code: take(),
                    },
                }
            })
            .collect();
        filled
    }
}

impl ParamSpec {
    fn push_slots(&self, out: &mut Vec<ParamTemplate>) {
        match &self.value {
            ValueSpec::Text(t) => out.push(t.clone()),
            ValueSpec::Currency {
                amount_1000,
                fallback,
                ..
            } => {
                out.push(amount_1000.clone());
                out.push(fallback.clone());
            }
            ValueSpec::DateTime { fallback } => out.push(fallback.clone()),
        }
    }

    fn fill(&self, take: &mut impl FnMut() -> String) -> Param {
        let value = match &self.value {
            ValueSpec::Text(_) => ParamValue::Text(take()),
            ValueSpec::Currency { code, .. } => {
                let amount_1000 = take().trim().parse().unwrap_or(0);
                ParamValue::Currency {
                    code: code.clone(),
                    amount_1000,
                    fallback: take(),
                }
            }
            ValueSpec::DateTime { .. } => ParamValue::DateTime { fallback: take() },
        };
        Param {
            name: self.name.clone(),
            value,
        }
    }
}

/// Parses one placeholder text found under `key`, to be checked as `shape` per row.
pub(crate) fn slot(
    source: &str,
    key: &str,
    shape: ValueShape,
) -> Result<ParamTemplate, super::params::ParamError> {
    ParamTemplate::parse(source).map(|p| p.placed(key, shape))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::MediaKind;

    fn t(s: &str) -> ParamTemplate {
        ParamTemplate::parse(s).unwrap()
    }

    #[test]
    fn fill_reads_values_back_in_slot_order() {
        let parts = TemplateParts {
            header: Some(HeaderSpec::Media {
                kind: MediaKind::Document,
                link: t("https://x/{{f}}"),
                filename: Some(t("{{f}}")),
            }),
            body: vec![
                ParamSpec {
                    name: Some("nome".into()),
                    value: ValueSpec::Text(t("{{name}}")),
                },
                ParamSpec {
                    name: None,
                    value: ValueSpec::Currency {
                        code: "BRL".into(),
                        amount_1000: t("{{v}}"),
                        fallback: t("R$ {{v}}"),
                    },
                },
            ],
            buttons: vec![ButtonSpec {
                index: 1,
                kind: ButtonKind::CopyCode,
                value: t("{{c}}"),
            }],
        };
        let slots: Vec<String> = parts.slots().iter().map(|s| s.to_string()).collect();
        assert_eq!(
            slots,
            [
                "https://x/{{f}}",
                "{{f}}",
                "{{name}}",
                "{{v}}",
                "R$ {{v}}",
                "{{c}}"
            ]
        );
        let values: Vec<String> = ["https://x/a.pdf", "a.pdf", "Ana", "10500", "R$ 10,50", "C1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let f = parts.fill(&values);
        assert_eq!(f.media.unwrap().filename.as_deref(), Some("a.pdf"));
        assert_eq!(f.params[0].name.as_deref(), Some("nome"));
        assert_eq!(
            f.params[1].value,
            ParamValue::Currency {
                code: "BRL".into(),
                amount_1000: 10500,
                fallback: "R$ 10,50".into()
            }
        );
        assert_eq!(
            f.buttons,
            [Button::CopyCode {
                index: 1,
                code: "C1".into()
            }]
        );
    }
}
