//! Callbacks: the provider sends its events to this daemon, over https, with the events
//! tierpace needs.
//!
//! - Gupshup: Partner API `GET /partner/app/{appId}/subscription`
//!   (partner-docs.gupshup.io/reference/get_partner-app-appid-subscription): an active
//!   subscription whose `url` is `http.public_url` + `/webhooks/gupshup` (or its `/{secret}`
//!   form), https, `version` 2 or 3 (the formats tierpace reads), and `modes` covering
//!   [`GUPSHUP_MODES`] (or `ALL`).
//! - Meta: `GET {base_url}/{phone_number_id}?fields=webhook_configuration`: the URL Meta
//!   delivers this number's events to (number override, else WhatsApp account override, else
//!   the app's callback; developers.facebook.com/documentation/business-messaging/whatsapp/
//!   webhooks/override) must be `http.public_url` + `/webhooks/meta`. The app's subscribed
//!   fields need an app token tierpace does not hold: named in the ok line, not checked.
use serde_json::Value;

use super::{get, Access, GoLiveContext, GoLiveItem};
use crate::config::{ProviderChoice, SenderConfig};

/// Event modes tierpace needs from Gupshup: delivery reports, template and account
/// (tier, quality) events.
pub const GUPSHUP_MODES: &[&str] = &["SENT", "DELIVERED", "READ", "TEMPLATE", "ACCOUNT"];

/// Meta webhook fields tierpace reads (App Dashboard > WhatsApp > Configuration).
pub const META_FIELDS_NEEDED: &str =
    "messages, message_template_status_update, phone_number_quality_update, account_update";

fn not_set(id: &str) -> GoLiveItem {
    GoLiveItem::failed(
        id,
        "callbacks",
        "http.public_url is not set: tierpace cannot tell where the provider must send events",
        "set http.public_url to the https URL the provider reaches this daemon at",
    )
}

/// Whether `registered` is `expected` or a path below it (`/webhooks/gupshup/{secret}`).
fn points_at(registered: &str, expected: &str) -> bool {
    let r = registered.trim().trim_end_matches('/');
    r == expected || r.starts_with(&format!("{expected}/"))
}

/// Judges Gupshup's subscription list, pure.
pub fn judge_gupshup(id: &str, json: &Value, expected: &str) -> GoLiveItem {
    let subs: Vec<&Value> = json
        .get("subscriptions")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let url = |s: &Value| {
        s.get("url")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let fix_url = format!("point the app's subscription at {expected} (Partner API POST /partner/app/{{appId}}/subscription)");
    let Some(sub) = subs.iter().find(|s| {
        points_at(&url(s), expected) && s.get("active").and_then(Value::as_bool) != Some(false)
    }) else {
        let seen: Vec<String> = subs.iter().map(|s| url(s)).collect();
        return GoLiveItem::failed(
            id,
            "callbacks",
            if seen.is_empty() {
                "no subscription: Gupshup sends this app's events nowhere".to_string()
            } else {
                format!("events go to {}, not {expected}", seen.join(", "))
            },
            fix_url,
        );
    };
    let registered = url(sub);
    if !registered.starts_with("https://") {
        return GoLiveItem::failed(
            id,
            "callbacks",
            format!("{registered} is not https"),
            "serve the webhook over https (http.public_url with https)",
        );
    }
    let version = sub.get("version").and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    });
    if !matches!(version, Some(2) | Some(3)) {
        return GoLiveItem::failed(
            id,
            "callbacks",
            format!("subscription version {version:?}: tierpace reads v2 and v3 events"),
            "set the subscription's version to 2 or 3",
        );
    }
    let modes: Vec<String> = match sub.get("modes") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_uppercase)
            .collect(),
        Some(Value::String(s)) => s.split(',').map(|m| m.trim().to_uppercase()).collect(),
        _ => Vec::new(),
    };
    let missing: Vec<&str> = if modes.iter().any(|m| m == "ALL") {
        Vec::new()
    } else {
        GUPSHUP_MODES
            .iter()
            .copied()
            .filter(|m| !modes.iter().any(|x| x == m))
            .collect()
    };
    if !missing.is_empty() {
        return GoLiveItem::failed(
            id,
            "callbacks",
            format!(
                "subscription to {registered} lacks modes {}",
                missing.join(",")
            ),
            format!("add {} to the subscription's modes", missing.join(",")),
        );
    }
    GoLiveItem::ok(
        id,
        "callbacks",
        format!(
            "{registered}, v{}, modes {}",
            version.unwrap_or_default(),
            modes.join(",")
        ),
    )
}

/// Judges Meta's `webhook_configuration`, pure; `None` when the answer has none.
pub fn judge_meta(id: &str, json: &Value, expected: &str) -> Option<GoLiveItem> {
    let wc = json.get("webhook_configuration")?;
    let at = |k: &str| wc.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let effective = at("phone_number")
        .or_else(|| at("whatsapp_business_account"))
        .or_else(|| at("application"))?;
    Some(if !points_at(effective, expected) {
        GoLiveItem::failed(
            id,
            "callbacks",
            format!("Meta delivers this number's events to {effective}, not {expected}"),
            format!("set the app's callback URL (App Dashboard > WhatsApp > Configuration) or the number's override to {expected}"),
        )
    } else if !effective.starts_with("https://") {
        GoLiveItem::failed(
            id,
            "callbacks",
            format!("{effective} is not https"),
            "serve the webhook over https",
        )
    } else {
        GoLiveItem::ok(
            id,
            "callbacks",
            format!("{effective}; subscribed fields not readable with this token, need: {META_FIELDS_NEEDED}"),
        )
    })
}

pub async fn check(
    id: &str,
    sc: &SenderConfig,
    ctx: &GoLiveContext,
    access: Option<&Access>,
) -> GoLiveItem {
    let path = match sc.provider {
        ProviderChoice::Meta => "/webhooks/meta",
        _ => "/webhooks/gupshup",
    };
    let Some(expected) = ctx.public(path) else {
        return not_set(id);
    };
    let Some(access) = access else {
        return GoLiveItem::unknown(
            id,
            "callbacks",
            "the provider account was not read (see credentials)",
        );
    };
    let (what, req) = match access {
        Access::Meta { .. } => (
            "webhook_configuration",
            access.get(&ctx.http, "?fields=webhook_configuration"),
        ),
        Access::GupshupPartner { .. } => ("subscription", access.get(&ctx.http, "/subscription")),
    };
    let answer = match get(req, sc.timeout).await {
        Ok(a) if a.ok() => a,
        Ok(a) => {
            return GoLiveItem::unknown(id, "callbacks", format!("{what} answered {}", a.words()))
        }
        Err(e) => return GoLiveItem::unknown(id, "callbacks", format!("{what}: {e}")),
    };
    match access {
        Access::Meta { .. } => judge_meta(id, &answer.json, &expected).unwrap_or_else(|| {
            GoLiveItem::unknown(
                id,
                "callbacks",
                "the Graph API gave no webhook_configuration for this number",
            )
        }),
        Access::GupshupPartner { .. } => judge_gupshup(id, &answer.json, &expected),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const EXPECTED: &str = "https://tp.example.com/webhooks/gupshup";

    #[test]
    fn a_gupshup_subscription_must_point_here_over_https_with_the_modes() {
        let sub = |url: &str, modes: &str, version: i64| json!({"status":"success","subscriptions":[{"active":true,"url":url,"modes":modes,"version":version}]});
        let all = "SENT,DELIVERED,READ,FAILED,TEMPLATE,ACCOUNT,MESSAGE";
        assert!(!judge_gupshup("a", &sub(EXPECTED, all, 2), EXPECTED).is_failed());
        assert!(
            !judge_gupshup("a", &sub(&format!("{EXPECTED}/s3cret"), "ALL", 3), EXPECTED)
                .is_failed()
        );
        assert!(
            judge_gupshup("a", &sub("https://old.example.com/hook", all, 2), EXPECTED).is_failed()
        );
        assert!(judge_gupshup("a", &sub(EXPECTED, "SENT,DELIVERED", 2), EXPECTED).is_failed());
        assert!(judge_gupshup("a", &sub(EXPECTED, all, 1), EXPECTED).is_failed());
        assert!(judge_gupshup("a", &json!({"subscriptions":[]}), EXPECTED).is_failed());
    }

    #[test]
    fn meta_delivers_to_the_most_specific_override() {
        let expected = "https://tp.example.com/webhooks/meta";
        let wc = json!({"webhook_configuration":{"application":expected,"phone_number":"https://other.example.com/x"}});
        assert!(judge_meta("a", &wc, expected).unwrap().is_failed());
        let wc = json!({"webhook_configuration":{"application":expected}});
        assert!(!judge_meta("a", &wc, expected).unwrap().is_failed());
        assert!(judge_meta("a", &json!({"id":"1"}), expected).is_none());
    }
}
