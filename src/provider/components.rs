//! The filled parts of a template message beyond its body text: named and typed parameters,
//! text headers and buttons, as Meta's component reference describes them
//! (developers.facebook.com/docs/whatsapp/cloud-api/reference/messages#template-object).
//! Each provider turns them into its own wire format (Meta: `components`; Gupshup: `params`,
//! `message` and `postbackTexts`).

/// One filled parameter: positional (`name` is `None`) or named (`parameter_format: NAMED`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: Option<String>,
    pub value: ParamValue,
}

/// A parameter's value: text, or one of Meta's typed parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    Text(String),
    /// `amount_1000` is the amount times 1000 (R$ 10,50 is 10500); `fallback` is shown where
    /// the client cannot format it.
    Currency {
        code: String,
        amount_1000: i64,
        fallback: String,
    },
    DateTime {
        fallback: String,
    },
}

impl ParamValue {
    /// The text a provider without typed parameters sends (Gupshup): the text or the fallback.
    pub fn as_text(&self) -> &str {
        match self {
            ParamValue::Text(t) => t,
            ParamValue::Currency { fallback, .. } | ParamValue::DateTime { fallback } => fallback,
        }
    }
}

impl From<String> for Param {
    fn from(text: String) -> Self {
        Param {
            name: None,
            value: ParamValue::Text(text),
        }
    }
}

impl From<&str> for Param {
    fn from(text: &str) -> Self {
        Param::from(text.to_string())
    }
}

/// One filled button; `index` is the button's position in the template (0-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Button {
    /// The suffix of a dynamic URL button.
    Url { index: u8, text: String },
    /// What comes back in the webhook when the customer taps the quick reply.
    QuickReply { index: u8, payload: String },
    /// The code a copy-code button copies (coupons; the one-time code of authentication).
    CopyCode { index: u8, code: String },
}

impl Button {
    pub fn index(&self) -> u8 {
        match self {
            Button::Url { index, .. }
            | Button::QuickReply { index, .. }
            | Button::CopyCode { index, .. } => *index,
        }
    }
}
