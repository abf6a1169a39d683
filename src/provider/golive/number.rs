//! Credentials, identity and "number live": one read of the provider account answers all three.
//!
//! - Meta: `GET {base_url}/{phone_number_id}?fields=` [`META_NUMBER_FIELDS`] with the access
//!   token. 401 / error 190: the token is refused. Error 100 (or 404): the id does not exist
//!   or the token cannot see it. Live means `status` CONNECTED and `name_status` APPROVED (or
//!   AVAILABLE_WITHOUT_REVIEW). Limit and quality are read as tier polling reads them
//!   ([`crate::provider::tier_source::read_meta`]).
//! - Gupshup: Partner API `GET /partner/app/{appId}/waba/info` with the app access token
//!   (partner-docs.gupshup.io/reference/getwabahealth): `accountStatus` ACTIVE, `dockerStatus`
//!   CONNECTED, `canSendMessage` AVAILABLE, `phone` equal to `source`; limit and quality from
//!   the tier poll's own read (`/ratings`).
use serde_json::Value;

use super::{get, Access, GoLiveContext, GoLiveItem};
use crate::campaign::phone::digits_of;
use crate::config::{ProviderChoice, SenderConfig};
use crate::policy::tier::Tier;
use crate::provider::tier_source::{read_meta, ProviderTierView};

/// The phone-number node fields asked for (no `webhook_configuration`: an older Graph version
/// refusing that one field must not fail this read).
pub const META_NUMBER_FIELDS: &str = "display_phone_number,verified_name,status,name_status,quality_rating,messaging_limit_tier,whatsapp_business_manager_messaging_limit";

/// What the read gave: three items, the access for the next checks (when the secrets load and
/// the provider accepted them), the daily volume at the current limit, and the provider's answer.
pub struct NumberRead {
    pub items: Vec<GoLiveItem>,
    pub access: Option<Access>,
    /// The most business-initiated conversations a day at the provider's limit (or the
    /// configured `initial_tier`); `None` when unlimited.
    pub per_day: Option<u64>,
    pub provider_answer: Option<Value>,
}

pub async fn check(id: &str, sc: &SenderConfig, ctx: &GoLiveContext) -> NumberRead {
    match sc.provider {
        ProviderChoice::Meta => meta(id, sc, ctx).await,
        _ => gupshup(id, sc, ctx).await,
    }
}

fn configured_per_day(sc: &SenderConfig) -> Option<u64> {
    sc.initial_tier.parse::<Tier>().ok().and_then(Tier::limit)
}

fn unread(id: &str, why: &str) -> [GoLiveItem; 2] {
    [
        GoLiveItem::unknown(id, "identity", why),
        GoLiveItem::unknown(id, "number", why),
    ]
}

/// The credentials item failed (`why`, `fix`); identity and number cannot be read (`unread`).
fn credentials_missing(
    sc: &SenderConfig,
    id: &str,
    why: String,
    fix: String,
    unread_why: &str,
) -> NumberRead {
    let mut items = vec![GoLiveItem::failed(id, "credentials", why, fix)];
    items.extend(unread(id, unread_why));
    read_only(items, sc)
}

fn read_only(items: Vec<GoLiveItem>, sc: &SenderConfig) -> NumberRead {
    NumberRead {
        items,
        access: None,
        per_day: configured_per_day(sc),
        provider_answer: None,
    }
}

/// `limit 10k, quality GREEN` from a tier read, for an ok line.
fn describe(view: &ProviderTierView) -> String {
    let limit = view.tier.map_or("limit not given".to_string(), |t| {
        format!("limit {}", t.provider_name())
    });
    let quality = view.quality.map_or("quality not given".to_string(), |q| {
        format!("quality {}", q.name())
    });
    format!("{limit}, {quality}")
}

fn per_day(view: Option<&ProviderTierView>, sc: &SenderConfig) -> Option<u64> {
    match view.and_then(|v| v.tier) {
        Some(t) => t.limit(),
        None => configured_per_day(sc),
    }
}

async fn meta(id: &str, sc: &SenderConfig, ctx: &GoLiveContext) -> NumberRead {
    let token = match sc.api_key() {
        Ok(t) => t,
        Err(e) => {
            return credentials_missing(
                sc,
                id,
                format!("access token not loaded: {e}"),
                format!("set senders.{id}.api_key_env (or _file) to the system-user token"),
                "no access token",
            )
        }
    };
    let access = Access::Meta {
        base: sc.graph_api_base().to_string(),
        phone_number_id: sc.phone_number_id.clone().unwrap_or_default(),
        token,
    };
    let req = access.get(&ctx.http, &format!("?fields={META_NUMBER_FIELDS}"));
    let answer = match get(req, sc.timeout).await {
        Ok(a) => a,
        Err(e) => {
            let why = format!("the Graph API did not answer: {e}");
            let mut items = vec![GoLiveItem::unknown(id, "credentials", &why)];
            items.extend(unread(id, &why));
            return read_only(items, sc);
        }
    };
    if answer.status == 401 || answer.meta_code() == Some(190) {
        let mut items = vec![GoLiveItem::failed(
            id,
            "credentials",
            format!("access token refused: {}", answer.words()),
            "issue a new system-user token with whatsapp_business_messaging and whatsapp_business_management, and point api_key_env/_file at it",
        )];
        items.extend(unread(id, "the token was refused"));
        return read_only(items, sc);
    }
    let pnid = sc.phone_number_id.as_deref().unwrap_or_default();
    if !answer.ok() {
        let (identity, number) = if answer.meta_code() == Some(100) || answer.status == 404 {
            (
                GoLiveItem::failed(
                    id,
                    "identity",
                    format!("phone number id {pnid} not found with this token: {}", answer.words()),
                    "copy the phone number id from WhatsApp Manager > Phone numbers, and assign the WhatsApp account to the token's system user",
                ),
                GoLiveItem::unknown(id, "number", "the phone number id was not found"),
            )
        } else {
            let why = format!("the Graph API answered {}", answer.words());
            (
                GoLiveItem::unknown(id, "identity", &why),
                GoLiveItem::unknown(id, "number", &why),
            )
        };
        return read_only(
            vec![
                GoLiveItem::ok(id, "credentials", "access token accepted by the Graph API"),
                identity,
                number,
            ],
            sc,
        );
    }
    let json = &answer.json;
    let text = |k: &str| {
        json.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let identity = GoLiveItem::ok(
        id,
        "identity",
        format!(
            "phone number id {pnid} is {} ({})",
            text("display_phone_number"),
            text("verified_name")
        ),
    );
    let view = read_meta(json).ok();
    let (status, name) = (text("status"), text("name_status"));
    let live = status.eq_ignore_ascii_case("CONNECTED");
    let named = ["APPROVED", "AVAILABLE_WITHOUT_REVIEW"]
        .iter()
        .any(|s| name.eq_ignore_ascii_case(s));
    let number = if live && named {
        GoLiveItem::ok(
            id,
            "number",
            format!(
                "{status}, display name {name}, {}{}",
                view.as_ref()
                    .map_or("limit and quality not given".into(), describe),
                model_note(view.as_ref(), sc)
            ),
        )
    } else {
        GoLiveItem::failed(
            id,
            "number",
            format!(
                "status {status:?}, display name {name:?}: Meta does not deliver for this number"
            ),
            if live {
                "get the display name approved in WhatsApp Manager > Phone numbers"
            } else {
                "register the number (POST /{phone_number_id}/register) and finish verification in WhatsApp Manager"
            },
        )
    };
    NumberRead {
        items: vec![
            GoLiveItem::ok(id, "credentials", "access token accepted by the Graph API"),
            identity,
            number,
        ],
        per_day: per_day(view.as_ref(), sc),
        access: Some(access),
        provider_answer: Some(answer.json),
    }
}

/// ` (config starts from 1k; the daemon takes the provider's)` when they differ.
fn model_note(view: Option<&ProviderTierView>, sc: &SenderConfig) -> String {
    let configured = sc.initial_tier.parse::<Tier>().ok();
    match (view.and_then(|v| v.tier), configured) {
        (Some(p), Some(c)) if p != c => format!(
            " (initial_tier is {}: the daemon's tier poll takes the provider's)",
            c.provider_name()
        ),
        _ => String::new(),
    }
}

async fn gupshup(id: &str, sc: &SenderConfig, ctx: &GoLiveContext) -> NumberRead {
    let key = sc.api_key();
    if let Err(e) = &key {
        let mut items = vec![GoLiveItem::failed(
            id,
            "credentials",
            format!("API key not loaded: {e}"),
            format!("set senders.{id}.api_key_env (or _file) to the app's API key"),
        )];
        items.extend(unread(id, "no API key"));
        return read_only(items, sc);
    }
    if !sc.tier_poll_configured() {
        let why = format!(
            "the Partner API is not configured (the api_key item checks the API key); set senders.{id}.partner_app_id_env/_file and partner_token_env/_file so tierpace can ask it about the number, balance and callbacks"
        );
        let mut items = vec![GoLiveItem::unknown(id, "credentials", &why)];
        items.extend(unread(id, "Partner API not configured"));
        return read_only(items, sc);
    }
    let partner = sc.partner_secrets();
    let (app_id, token) = match partner {
        Ok(p) => p,
        Err(e) => {
            return credentials_missing(
                sc,
                id,
                format!("Partner API secrets not loaded: {e}"),
                format!("set senders.{id}.partner_app_id_env/_file and partner_token_env/_file"),
                "no Partner API secrets",
            )
        }
    };
    let access = Access::GupshupPartner {
        base: sc.partner_api_base().to_string(),
        app_id: app_id.clone(),
        token,
    };
    let answer = match get(access.get(&ctx.http, "/waba/info"), sc.timeout).await {
        Ok(a) => a,
        Err(e) => {
            let why = format!(
                "the Partner API at {} did not answer: {e} (check senders.{id}.partner_base_url, DNS and outbound HTTPS)",
                sc.partner_base_url
                    .as_deref()
                    .unwrap_or(crate::config::GUPSHUP_PARTNER_URL)
            );
            let mut items = vec![GoLiveItem::unknown(id, "credentials", &why)];
            items.extend(unread(id, &why));
            return read_only(items, sc);
        }
    };
    if answer.status == 401 || answer.status == 403 {
        let mut items = vec![GoLiveItem::failed(
            id,
            "credentials",
            format!("Partner API app token refused: {}", answer.words()),
            "get a new app access token (Partner API GET /partner/app/{appId}/token) and point partner_token_env/_file at it",
        )];
        items.extend(unread(id, "the app token was refused"));
        return read_only(items, sc);
    }
    if !answer.ok() {
        // Only a read that succeeded proves the token; an unknown app id proves nothing.
        let credentials = GoLiveItem::unknown(
            id,
            "credentials",
            format!(
                "the app token is not proven: waba/info answered {} (see identity)",
                answer.words()
            ),
        );
        let identity = if answer.status == 400 || answer.status == 404 {
            GoLiveItem::failed(
                id,
                "identity",
                format!("app id {app_id} not found: {}", answer.words()),
                "copy the app id from the Partner Portal (the app of this sender's number)",
            )
        } else {
            GoLiveItem::unknown(
                id,
                "identity",
                format!("waba/info answered {}", answer.words()),
            )
        };
        return read_only(
            vec![
                credentials,
                identity,
                GoLiveItem::unknown(id, "number", "the app was not read"),
            ],
            sc,
        );
    }
    let credentials = GoLiveItem::ok(
        id,
        "credentials",
        "Partner API app token accepted (the api_key item checks the API key)",
    );
    let info = answer.json.get("wabaInfo").unwrap_or(&answer.json).clone();
    let text = |k: &str| {
        info.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let source = sc.source.as_deref().unwrap_or_default();
    // Compared as written, not normalised: `source` goes to Gupshup as configured, so what must
    // match is its spelling (an old Brazilian mobile with and without its 9th digit is one E.164
    // number but two spellings).
    let phone = digits_of(&text("phone"));
    let identity = if phone.is_empty() {
        GoLiveItem::unknown(id, "identity", "waba/info gave no phone number")
    } else if phone == digits_of(source) {
        GoLiveItem::ok(
            id,
            "identity",
            format!(
                "app {app_id} ({}) sends from {phone}, as source says",
                sc.app_name.as_deref().unwrap_or_default()
            ),
        )
    } else {
        GoLiveItem::failed(
            id,
            "identity",
            format!("app {app_id} sends from {phone}, senders.{id}.source is {source}"),
            "use the app id and source of the same number (Partner Portal > app > phone)",
        )
    };
    // The tier poll's own read (issue 12 §2), for the limit and quality.
    let view = match crate::daemon::tier_poll::build_source(sc) {
        Ok(Some(source)) => source.poll().await.ok(),
        _ => None,
    };
    let (account, docker, can_send) = (
        text("accountStatus"),
        text("dockerStatus"),
        text("canSendMessage"),
    );
    let blocked = !can_send.is_empty() && !can_send.eq_ignore_ascii_case("AVAILABLE");
    let number = if account.eq_ignore_ascii_case("ACTIVE")
        && docker.eq_ignore_ascii_case("CONNECTED")
        && !blocked
    {
        GoLiveItem::ok(
            id,
            "number",
            format!(
                "account {account}, number {docker}, {}{}",
                view.as_ref().map_or_else(
                    || format!(
                        "limit {}, quality {} (waba/info; the ratings read failed)",
                        text("messagingLimit"),
                        text("phoneQuality")
                    ),
                    describe
                ),
                model_note(view.as_ref(), sc)
            ),
        )
    } else {
        GoLiveItem::failed(
            id,
            "number",
            format!(
                "account {account:?}, number {docker:?}, canSendMessage {can_send:?}: Gupshup cannot send from this number"
            ),
            "finish the number's onboarding in the Partner Portal (connect the number; resolve any restriction shown in WhatsApp Manager)",
        )
    };
    NumberRead {
        items: vec![credentials, identity, number],
        per_day: per_day(view.as_ref(), sc),
        access: Some(access),
        provider_answer: Some(info),
    }
}
