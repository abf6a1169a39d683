//! The Gupshup API key and app name, proven without a send: `GET {base_url}/sm/api/v1/template/list/{app_name}`
//! with the `apikey` header, the read-only template list of the app the sends name in `src.name`
//! (the call open-source Gupshup clients use, e.g. gupshup-python's `get_templates_app`; the
//! app-id form is docs.gupshup.io/reference/get_wa-app-appid-template, which needs the app id a
//! sender may not have). Gupshup answers a wrong key `401 Authentication Failed` and an app
//! name the key does not own `{"status":"error","message":"Invalid App Details"}`, the same
//! answers a send would get (field file `gupshup-invalid-app-details`).
use super::{get, GoLiveContext, GoLiveItem};
use crate::config::SenderConfig;
use crate::secret::Secret;

/// The Gupshup API base URL unless a sender names another.
pub const GUPSHUP_API_URL: &str = "https://api.gupshup.io";

/// The `api_key` item of a Gupshup sender whose key loaded.
pub async fn check(id: &str, sc: &SenderConfig, ctx: &GoLiveContext, key: &Secret) -> GoLiveItem {
    let base = sc
        .base_url
        .as_deref()
        .unwrap_or(GUPSHUP_API_URL)
        .trim_end_matches('/');
    if !base.starts_with("https://") && !super::network::is_loopback(base) {
        // The network item fails this URL; the key is never sent in clear text.
        return GoLiveItem::unknown(
            id,
            "api_key",
            format!("{base} is not https: the API key is not sent to it"),
        );
    }
    let Some(app) = sc.app_name.as_deref() else {
        return GoLiveItem::unknown(id, "api_key", format!("senders.{id}.app_name is not set"));
    };
    let url = format!("{base}/sm/api/v1/template/list/{}", url_segment(app.trim()));
    let answer = match get(
        ctx.http.get(&url).header("apikey", key.expose()),
        sc.timeout,
    )
    .await
    {
        Ok(a) => a,
        Err(e) => return GoLiveItem::unknown(id, "api_key", format!("{base} did not answer: {e}")),
    };
    let status = answer.json.get("status").and_then(|s| s.as_str());
    let words = answer.words();
    if answer.status == 401 || answer.status == 403 || words.contains("Authentication Failed") {
        return GoLiveItem::failed(
            id,
            "api_key",
            format!("API key refused: {words}"),
            format!("copy the app's API key from the Gupshup dashboard into senders.{id}.api_key_env/_file"),
        );
    }
    if words.to_ascii_lowercase().contains("invalid app") {
        return GoLiveItem::failed(
            id,
            "api_key",
            format!("app name `{app}` not accepted with this API key: {words}"),
            format!("set senders.{id}.app_name to the Gupshup app's name exactly (case matters), the app this API key belongs to"),
        );
    }
    if answer.ok() && status != Some("error") {
        return GoLiveItem::ok(
            id,
            "api_key",
            format!("API key accepted for app `{app}` (its template list was read)"),
        );
    }
    GoLiveItem::unknown(id, "api_key", format!("the template list answered {words}"))
}

/// Percent-encodes what a path segment cannot carry as is (app names are letters and digits,
/// but a space or slash must not change the path).
fn url_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::url_segment;

    #[test]
    fn an_app_name_stays_one_path_segment() {
        assert_eq!(url_segment("MinhaEmpresa"), "MinhaEmpresa");
        assert_eq!(url_segment("a b/c"), "a%20b%2Fc");
    }
}
