//! Opt-in: Gupshup's own opt-in handling must be off. tierpace keeps consent itself
//! (DESIGN.md, consent); Gupshup's gate on top would drop sends to contacts Gupshup has not
//! seen opt in.
//!
//! The Partner API documents no read of this setting (only `PUT /partner/app/{appId}/optin`,
//! which opts one user in: partner-docs.gupshup.io/reference/put_partner-app-appid-optin). When
//! the app's `waba/info` answer carries an opt-in flag (a key named like `optin...`), it is
//! judged; otherwise the item is unknown and says where to look.
use serde_json::Value;

use super::GoLiveItem;

pub fn check(id: &str, waba_info: Option<&Value>) -> GoLiveItem {
    let flag = waba_info.and_then(Value::as_object).and_then(|o| {
        o.iter()
            .find(|(k, _)| {
                k.to_ascii_lowercase()
                    .replace(['_', '-'], "")
                    .starts_with("optin")
            })
            .map(|(k, v)| (k.clone(), v.clone()))
    });
    let Some((key, value)) = flag else {
        return GoLiveItem::unknown(
            id,
            "opt_in",
            "the Partner API does not expose the app's opt-in setting; check in the Gupshup app settings that opt-in handling is off",
        );
    };
    let on = match &value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "enabled" | "on" | "yes" => Some(true),
            "false" | "disabled" | "off" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    };
    match on {
        Some(false) => GoLiveItem::ok(id, "opt_in", format!("Gupshup opt-in handling off ({key}: {value})")),
        Some(true) => GoLiveItem::failed(
            id,
            "opt_in",
            format!("Gupshup's own opt-in handling is on ({key}: {value}): it would drop sends to contacts it has not seen opt in"),
            "turn opt-in handling off in the Gupshup app settings; tierpace keeps consent itself",
        ),
        None => GoLiveItem::unknown(id, "opt_in", format!("{key}: {value} is not a yes or no")),
    }
}
