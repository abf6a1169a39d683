//! Opt-in: Gupshup's own opt-in handling must be off. tierpace keeps consent itself
//! (DESIGN.md, consent); Gupshup's gate on top would drop sends to contacts Gupshup has not
//! seen opt in.
//!
//! Gupshup documents no read of this setting (searched December 2026): the Partner API has
//! only writes, `PUT /partner/app/{appId}/optinMessagePreference` (`enableOptinMessage`,
//! docs.gupshup.io/reference/put_partner-app-appid-optinmessagepreference) and
//! `PUT /partner/app/{appId}/optin` (opts one user in,
//! partner-docs.gupshup.io/reference/put_partner-app-appid-optin); `GET
//! /partner/app/{appId}/details` (partner-docs.gupshup.io/reference/get_partner-app-appid-details)
//! needs the partner login JWT, not the app token, and documents no opt-in field; the
//! dashboard's "Automated opt-in message" toggle is described at docs.gupshup.io/docs/opt-ins.
//! A check never writes, so the item stays unknown and says where to look, unless the app's
//! `waba/info` answer carries an opt-in flag (a key named like `optin...`), which is judged.
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
            "Gupshup documents no read of the app's opt-in setting (only PUT /partner/app/{appId}/optinMessagePreference); check in the Gupshup app's Settings > Opt-in that the automated opt-in message and any opt-in gate are off",
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
