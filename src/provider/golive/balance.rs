//! Balance: can the account pay for the campaigns?
//!
//! Gupshup: Partner API `GET /partner/app/{appId}/wallet/balance` with the app access token
//! (partner-docs.gupshup.io/reference/get_partner-app-appid-wallet-balance), answering
//! `{"walletResponse":{"currency":"USD","currentBalance":12.5,"overDraftLimit":0}}`. Available
//! = balance + overdraft. Fails when nothing is available, when the balance is under the warning
//! threshold, or when the estimate runs out within a day at the planned volume (the sender's
//! daily limit × `--price-per-message`).
//! Meta bills the business portfolio's payment method, which the phone number's token cannot
//! read: unknown, with why.
use serde_json::Value;

use super::{get, Access, GoLiveContext, GoLiveItem};
use crate::config::{ProviderChoice, SenderConfig};

/// The warning threshold unless `--min-balance` says otherwise: Gupshup's minimum recharge
/// ($10, docs.gupshup.io/docs/wallet), so a warning leaves time to top up.
pub const DEFAULT_MIN_BALANCE: f64 = 10.0;

/// What a wallet read says, pure: `per_day` conversations a day at `price` each.
pub fn judge(
    id: &str,
    wallet: &Value,
    min_balance: f64,
    per_day: Option<u64>,
    price: Option<f64>,
) -> GoLiveItem {
    let w = wallet.get("walletResponse").unwrap_or(wallet);
    let num = |k: &str| {
        w.get(k).and_then(|v| {
            v.as_f64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        })
    };
    let Some(balance) = num("currentBalance") else {
        return GoLiveItem::unknown(
            id,
            "balance",
            format!(
                "wallet answer without currentBalance: {}",
                wallet.to_string().chars().take(200).collect::<String>()
            ),
        );
    };
    let overdraft = num("overDraftLimit").unwrap_or(0.0).abs();
    let currency = w
        .get("currency")
        .and_then(Value::as_str)
        .unwrap_or("credits");
    let available = balance + overdraft;
    let seen = format!("{balance:.2} {currency} (overdraft {overdraft:.2})");
    let fix = "top up the Gupshup wallet (Partner Portal > Wallet, or the app's dashboard)";
    if available <= 0.0 {
        return GoLiveItem::failed(id, "balance", format!("wallet empty: {seen}"), fix);
    }
    if balance < min_balance {
        return GoLiveItem::failed(
            id,
            "balance",
            format!("{seen} is under the warning threshold {min_balance:.2}"),
            fix,
        );
    }
    let estimate = match (per_day, price) {
        (Some(n), Some(p)) if n > 0 && p > 0.0 => {
            let days = available / (n as f64 * p);
            if days < 1.0 {
                return GoLiveItem::failed(
                    id,
                    "balance",
                    format!("{seen} lasts {days:.1} days at {n}/day × {p}"),
                    fix,
                );
            }
            format!(", about {days:.0} days at {n}/day × {p}")
        }
        (None, Some(_)) => ", no days-left estimate at an unlimited tier".into(),
        _ => ", days left: pass --price-per-message".into(),
    };
    GoLiveItem::ok(id, "balance", format!("{seen}{estimate}"))
}

pub async fn check(
    id: &str,
    sc: &SenderConfig,
    ctx: &GoLiveContext,
    access: Option<&Access>,
    per_day: Option<u64>,
) -> GoLiveItem {
    if sc.provider == ProviderChoice::Meta {
        return GoLiveItem::unknown(
            id,
            "balance",
            "Meta bills the business portfolio's payment method, which the phone number's token cannot read; check Business Settings > Payments",
        );
    }
    let Some(access) = access else {
        let why = if sc.tier_poll_configured() {
            "the Partner API app was not read (see credentials and identity)"
        } else {
            "the Partner API is not configured (partner_app_id and partner_token)"
        };
        return GoLiveItem::unknown(id, "balance", why);
    };
    match get(access.get(&ctx.http, "/wallet/balance"), sc.timeout).await {
        Ok(a) if a.ok() => judge(id, &a.json, ctx.min_balance, per_day, ctx.price_per_message),
        Ok(a) => GoLiveItem::unknown(
            id,
            "balance",
            format!("wallet/balance answered {}", a.words()),
        ),
        Err(e) => GoLiveItem::unknown(id, "balance", format!("wallet/balance: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::golive::ItemStatus;
    use serde_json::json;

    fn wallet(balance: f64, overdraft: f64) -> Value {
        json!({"status":"success","walletResponse":{"currency":"USD","currentBalance":balance,"overDraftLimit":overdraft}})
    }

    #[test]
    fn an_empty_wallet_fails_and_a_full_one_says_how_long_it_lasts() {
        assert!(judge("a", &wallet(0.0, 0.0), 10.0, Some(1000), None).is_failed());
        assert!(judge("a", &wallet(5.0, 0.0), 10.0, Some(1000), None).is_failed());
        // 100 USD at 1000/day × 0.05 = 2 days.
        let ok = judge("a", &wallet(100.0, 0.0), 10.0, Some(1000), Some(0.05));
        assert_eq!(
            ok.status,
            ItemStatus::Ok {
                detail: "100.00 USD (overdraft 0.00), about 2 days at 1000/day × 0.05".into()
            }
        );
        // 40 USD at 1000/day × 0.05 = 0.8 days: fails.
        assert!(judge("a", &wallet(40.0, 0.0), 10.0, Some(1000), Some(0.05)).is_failed());
    }
}
