//! The template pre-flight (issue #18), one place for its three callers: `tierpace check`, the
//! daemon when it loads or reloads a campaign, and the go-live checklist's `templates` item
//! (issue #21). It asks the sender's provider what the campaign's template is
//! ([`super::template_catalog`]) and says whether the campaign file fits it.
//!
//! Three answers, because the daemon acts differently on each:
//! - [`Verdict::Fits`]: exists, APPROVED, category, language and parameters agree: run.
//! - [`Verdict::Mismatch`]: the provider answered and the template is missing or does not fit:
//!   the campaign is refused (it would only spend its audience on template errors).
//! - [`Verdict::NotVerified`]: no credentials to ask with, or the provider could not be reached:
//!   the campaign runs and status says what was not verified.
//!
//! Which read, by how the sender is configured:
//! - Meta: `waba_id` and the access token: `GET /{waba_id}/message_templates?name=NAME`.
//! - Gupshup: the Partner API app id and app token (the keys tier polling and the go-live check
//!   use): `GET /partner/app/{appId}/templates`, matched by the campaign's template `id`.
//!   Gupshup's send API key reads no template list, so without the Partner API keys the
//!   template is not verified.
//!
//! A reload of many campaigns must not be as many provider calls: answers are cached per
//! sender account and lookup (Meta: the template name, every language in one answer; Gupshup:
//! the app's whole list) for [`DEFAULT_TTL`], and one pass asks each lookup once.
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::template_catalog::{
    fetch_gupshup, fetch_meta, verify, CatalogError, Mismatch, ProviderTemplate,
};
use crate::campaign::file::{Campaign, TemplateRef};
use crate::config::{ProviderChoice, SenderConfig};
use crate::secret::{Secret, SecretError};

/// How long a provider's template answer is reused: long enough for one reload of every
/// campaign, short enough that a template fixed at the provider is seen on the next reload.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);

/// The longest a pre-flight read may take (less when the sender's `timeout` is shorter): the
/// daemon waits for it before a campaign starts.
pub const MAX_READ_TIME: Duration = Duration::from_secs(10);

/// What the pre-flight says of one campaign's template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It fits; what was seen (name, language, category, status).
    Fits(String),
    /// The provider's template is missing or does not fit; every disagreement, each naming the
    /// campaign-file key to fix.
    Mismatch(Vec<Mismatch>),
    /// Not asked, or no answer: why (no credentials, provider unreachable, odd answer).
    NotVerified(String),
}

/// Why a campaign's template was not verified: nothing to ask the provider with, or no answer.
/// The campaign runs; `status` and `check` show this.
#[derive(Debug, thiserror::Error)]
pub enum Unverifiable {
    #[error("template `{name}` not verified (exists, APPROVED, category, language, parameters): senders.{sender}.waba_id is not set")]
    NoWabaId { name: String, sender: String },
    #[error("template `{name}` not verified: no access token for senders.{sender}: {source}")]
    NoAccessToken {
        name: String,
        sender: String,
        source: SecretError,
    },
    #[error("template {id} not verified (exists, APPROVED, category, language, parameters): Gupshup lists templates only through the Partner API; set senders.{sender}.partner_app_id_env/_file and partner_token_env/_file")]
    NoPartnerApi { id: String, sender: String },
    #[error("template {id} not verified: Partner API secrets of senders.{sender}: {source}")]
    PartnerSecrets {
        id: String,
        sender: String,
        source: SecretError,
    },
    /// `check` refuses the other style for the provider before the pre-flight runs.
    #[error("template style does not fit the sender's provider")]
    StyleMismatch,
    #[error("the provider did not answer within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Read(#[from] CatalogError),
}

/// One provider read: which account, which lookup.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Lookup {
    sender: String,
    base: String,
    /// Meta: the business account id; Gupshup: the app id.
    account: String,
    /// Meta: the template name; Gupshup: none (the app's whole list).
    name: Option<String>,
}

/// How to read one lookup (the token is not part of the cache key).
#[derive(Clone)]
struct Read {
    lookup: Lookup,
    provider: ProviderChoice,
    token: Secret,
    timeout: Duration,
}

/// A provider's answer and when it was read.
type Cached = (Instant, Arc<Vec<ProviderTemplate>>);

/// The provider reads, cached for a short time. One per daemon (shared with its go-live runs);
/// `check` makes its own.
pub struct TemplateCatalog {
    http: reqwest::Client,
    ttl: Duration,
    cache: Mutex<HashMap<Lookup, Cached>>,
    reads: AtomicU64,
}

impl TemplateCatalog {
    /// A catalog whose answers live `ttl`.
    pub fn new(ttl: Duration) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: super::http_client(MAX_READ_TIME)?,
            ttl,
            cache: Mutex::new(HashMap::new()),
            reads: AtomicU64::new(0),
        })
    }

    /// How many reads went to a provider (cache misses) since this catalog was made.
    pub fn provider_reads(&self) -> u64 {
        self.reads.load(Ordering::SeqCst)
    }

    /// The verdict for each campaign (by id, in the order given). Campaigns whose sender is not
    /// in `senders` or is a dry run are left out. Each lookup is read at most once.
    pub async fn verify_all(
        &self,
        senders: &BTreeMap<String, SenderConfig>,
        campaigns: &[Campaign],
    ) -> Vec<(String, Verdict)> {
        let mut plans = Vec::new();
        let mut reads: HashMap<Lookup, Read> = HashMap::new();
        for c in campaigns {
            let Some(sc) = senders.get(&c.sender) else {
                continue;
            };
            if sc.provider == ProviderChoice::Dryrun {
                continue;
            }
            match read_for(&c.sender, sc, c) {
                Ok(read) => {
                    plans.push((c, Ok(read.lookup.clone())));
                    reads.entry(read.lookup.clone()).or_insert(read);
                }
                Err(why) => plans.push((c, Err(why))),
            }
        }
        let fetched: HashMap<Lookup, Result<Arc<Vec<ProviderTemplate>>, Unverifiable>> =
            futures::future::join_all(reads.into_values().map(|r| async move {
                let answer = self.read(&r).await;
                (r.lookup, answer)
            }))
            .await
            .into_iter()
            .collect();
        plans
            .into_iter()
            .map(|(c, plan)| {
                let verdict = match plan {
                    Err(why) => Verdict::NotVerified(why.to_string()),
                    Ok(lookup) => match &fetched[&lookup] {
                        Err(e) => Verdict::NotVerified(e.to_string()),
                        Ok(list) => judge(c, &lookup, list),
                    },
                };
                (c.id.clone(), verdict)
            })
            .collect()
    }

    /// The cached answer, or a fresh read.
    async fn read(&self, r: &Read) -> Result<Arc<Vec<ProviderTemplate>>, Unverifiable> {
        if let Some((at, list)) = lock(&self.cache).get(&r.lookup) {
            if at.elapsed() < self.ttl {
                return Ok(list.clone());
            }
        }
        self.reads.fetch_add(1, Ordering::SeqCst);
        let l = &r.lookup;
        let timeout = r.timeout.min(MAX_READ_TIME);
        let fetch = async {
            match r.provider {
                ProviderChoice::Meta => {
                    let name = l.name.as_deref().unwrap_or_default();
                    fetch_meta(&self.http, &l.base, &l.account, &r.token, name).await
                }
                _ => fetch_gupshup(&self.http, &l.base, &l.account, &r.token).await,
            }
        };
        let list = match tokio::time::timeout(timeout, fetch).await {
            Err(_) => return Err(Unverifiable::Timeout(timeout)),
            Ok(Err(e)) => return Err(e.into()),
            Ok(Ok(list)) => Arc::new(list),
        };
        lock(&self.cache).insert(l.clone(), (Instant::now(), list.clone()));
        Ok(list)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What to read for campaign `c` on sender `id`, or why it cannot be read.
fn read_for(id: &str, sc: &SenderConfig, c: &Campaign) -> Result<Read, Unverifiable> {
    match (&sc.provider, &c.template.template) {
        (ProviderChoice::Meta, TemplateRef::Name { name, .. }) => {
            let waba_id = sc
                .waba_id
                .as_deref()
                .filter(|w| !w.is_empty())
                .ok_or_else(|| Unverifiable::NoWabaId {
                    name: name.clone(),
                    sender: id.to_string(),
                })?;
            let token = sc.api_key().map_err(|source| Unverifiable::NoAccessToken {
                name: name.clone(),
                sender: id.to_string(),
                source,
            })?;
            Ok(Read {
                lookup: Lookup {
                    sender: id.to_string(),
                    base: sc.graph_api_base().to_string(),
                    account: waba_id.to_string(),
                    name: Some(name.clone()),
                },
                provider: ProviderChoice::Meta,
                token,
                timeout: sc.timeout,
            })
        }
        (ProviderChoice::Gupshup, TemplateRef::Id(tid)) => {
            if !sc.tier_poll_configured() {
                return Err(Unverifiable::NoPartnerApi {
                    id: tid.clone(),
                    sender: id.to_string(),
                });
            }
            let (app, token) =
                sc.partner_secrets()
                    .map_err(|source| Unverifiable::PartnerSecrets {
                        id: tid.clone(),
                        sender: id.to_string(),
                        source,
                    })?;
            Ok(Read {
                lookup: Lookup {
                    sender: id.to_string(),
                    base: sc.partner_api_base().to_string(),
                    account: app,
                    name: None,
                },
                provider: ProviderChoice::Gupshup,
                token,
                timeout: sc.timeout,
            })
        }
        _ => Err(Unverifiable::StyleMismatch),
    }
}

/// The verdict for `c` from the provider's list.
fn judge(c: &Campaign, lookup: &Lookup, list: &[ProviderTemplate]) -> Verdict {
    let t = &c.template;
    let (found, language, key) = match &t.template {
        TemplateRef::Name { name, language } => (
            list.iter()
                .find(|p| &p.name == name && &p.language == language),
            Some(language.as_str()),
            "template.name",
        ),
        TemplateRef::Id(id) => (list.iter().find(|p| &p.id == id), None, "template.id"),
    };
    let Some(found) = found else {
        let message = match &t.template {
            TemplateRef::Name { name, language } => format!(
                "template `{name}` in {language} does not exist in business account {}",
                lookup.account
            ),
            TemplateRef::Id(id) => {
                format!(
                    "template {id} does not exist in Gupshup app {}",
                    lookup.account
                )
            }
        };
        return Verdict::Mismatch(vec![Mismatch { key, message }]);
    };
    let mismatches = verify(&t.parts, t.category, language, key, found);
    if mismatches.is_empty() {
        Verdict::Fits(format!(
            "template `{}` ({}, {}) {}, parameters fit",
            found.name, found.language, found.category, found.status
        ))
    } else {
        Verdict::Mismatch(mismatches)
    }
}

/// The line of `key` (`template.body`) in the campaign file's `[template]` table, if found.
pub fn line_of(file_text: &str, key: &str) -> Option<usize> {
    let last = key.rsplit('.').next().unwrap_or(key);
    let mut in_template = false;
    for (i, line) in file_text.lines().enumerate() {
        let l = line.trim();
        // A table header (`[audience]`), not an array value that starts a line.
        if l.starts_with('[') && l.ends_with(']') && !l.contains(['"', '=', '{']) {
            in_template = l == "[template]";
            continue;
        }
        let k = l.split('=').next().unwrap_or("").trim();
        let hit =
            k == last || (last == "body" && k == "params") || (last == "header" && k == "media");
        if in_template && hit {
            return Some(i + 1);
        }
    }
    None
}

/// `file:line: key: message` for each mismatch (`file` alone when the key is not found).
pub fn placed(file: &Path, shown: &Path, mismatches: &[Mismatch]) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    mismatches
        .iter()
        .map(|m| match line_of(&text, m.key) {
            Some(line) => format!("{}:{line}: {m}", shown.display()),
            None => format!("{}: {m}", shown.display()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_found_on_its_line_in_the_template_table() {
        let text = "id = \"bf\"\nsender = \"sac\"\n[template]\nid = \"6f1c\"\ncategory = \"marketing\"\nparams = [\"{{name}}\"]\n[audience]\nfile = \"a.csv\"\n";
        assert_eq!(line_of(text, "template.id"), Some(4));
        assert_eq!(line_of(text, "template.body"), Some(6));
        assert_eq!(line_of(text, "template.category"), Some(5));
        assert_eq!(line_of(text, "template.buttons"), None);
    }
}
