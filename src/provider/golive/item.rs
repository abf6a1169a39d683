//! One line of the go-live checklist (issue #21): a sender, an item, and what came of it.
//!
//! Three outcomes, because an operator needs three answers: it is right (`ok`), it is wrong
//! and here is how to fix it (`failed`), or tierpace could not ask (`unknown`, and why).
//! Exit codes follow from the worst: 0 all ok, 1 any failed, 2 only unknowns besides oks.
use serde::Serialize;

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum ItemStatus {
    /// Right; `detail` says what was seen (limit, balance, URL...).
    Ok { detail: String },
    /// Wrong: `why` in the provider's words where it gave any, `fix` what to do.
    Failed { why: String, fix: String },
    /// Not asked or not answerable: `why` says which and why.
    Unknown { why: String },
}

/// One item of the checklist for one sender (`sender` is `*` for daemon-wide items).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GoLiveItem {
    pub sender: String,
    /// `credentials`, `identity`, `number`, `balance`, `templates`, `callbacks`, `opt_in`,
    /// `network`, `public_url`.
    pub item: &'static str,
    #[serde(flatten)]
    pub status: ItemStatus,
}

impl GoLiveItem {
    pub fn ok(sender: &str, item: &'static str, detail: impl Into<String>) -> Self {
        Self::new(
            sender,
            item,
            ItemStatus::Ok {
                detail: detail.into(),
            },
        )
    }

    pub fn failed(
        sender: &str,
        item: &'static str,
        why: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::new(
            sender,
            item,
            ItemStatus::Failed {
                why: why.into(),
                fix: fix.into(),
            },
        )
    }

    pub fn unknown(sender: &str, item: &'static str, why: impl Into<String>) -> Self {
        Self::new(sender, item, ItemStatus::Unknown { why: why.into() })
    }

    fn new(sender: &str, item: &'static str, status: ItemStatus) -> Self {
        Self {
            sender: sender.to_string(),
            item,
            status,
        }
    }

    pub fn is_failed(&self) -> bool {
        matches!(self.status, ItemStatus::Failed { .. })
    }

    /// One line: `FAILED  sac  balance  wallet empty (0.00 USD) -> fix: top up ...`.
    pub fn line(&self) -> String {
        let (tag, text) = match &self.status {
            ItemStatus::Ok { detail } => ("ok", detail.clone()),
            ItemStatus::Failed { why, fix } => ("FAILED", format!("{why} -> fix: {fix}")),
            ItemStatus::Unknown { why } => ("unknown", why.clone()),
        };
        format!("{tag:<8}{:<12}{:<12}{text}", self.sender, self.item)
    }

    /// The short form for status and `/readyz`: `sac balance: wallet empty`.
    pub fn summary(&self) -> String {
        let text = match &self.status {
            ItemStatus::Ok { detail } => detail,
            ItemStatus::Failed { why, .. } => why,
            ItemStatus::Unknown { why } => why,
        };
        format!("{} {}: {text}", self.sender, self.item)
    }
}

/// 0 when every item is ok, 1 when any failed, 2 when none failed but some are unknown.
pub fn exit_code(items: &[GoLiveItem]) -> i32 {
    if items.iter().any(GoLiveItem::is_failed) {
        1
    } else if items
        .iter()
        .any(|i| matches!(i.status, ItemStatus::Unknown { .. }))
    {
        2
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_worst_item() {
        let ok = GoLiveItem::ok("a", "network", "fine");
        let unknown = GoLiveItem::unknown("a", "balance", "not readable");
        let failed = GoLiveItem::failed("a", "number", "not connected", "connect it");
        assert_eq!(exit_code(std::slice::from_ref(&ok)), 0);
        assert_eq!(exit_code(&[ok.clone(), unknown.clone()]), 2);
        assert_eq!(exit_code(&[ok, unknown, failed]), 1);
        assert_eq!(exit_code(&[]), 0);
    }

    #[test]
    fn json_has_the_status_and_its_fields_flat() {
        let item = GoLiveItem::failed("sac", "balance", "wallet empty", "top up");
        let v = serde_json::to_value(&item).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"sender":"sac","item":"balance","status":"failed",
                "why":"wallet empty","fix":"top up"})
        );
        assert!(item.line().starts_with("FAILED  sac"));
        assert!(item.line().ends_with("wallet empty -> fix: top up"));
    }
}
