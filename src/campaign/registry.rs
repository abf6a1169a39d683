//! The campaign registry: the set of campaigns in force, kept in step with `campaigns_dir`.
//!
//! There is one reload path (STYLE.md 15): the debounced directory watcher ([`watch_dir`]) and
//! SIGHUP ([`spawn_sighup`]) both send a [`ReloadTrigger`] on one channel; the registry's owner
//! answers every trigger with [`Registry::reload`], which rescans the whole directory and returns
//! what changed. Rescanning rather than applying single file events is deliberate: editors save
//! by write-then-rename, deletes and renames arrive in odd orders, and a full rescan of a
//! handful of small files always ends in the state the directory is actually in.
//!
//! Rules (DESIGN.md §4, guarantee 6):
//! - a new valid file is `Added`; a changed one `Changed` (the new version takes over; progress
//!   is kept unless [`Campaign::run_key`] changed, then `new_run`); a vanished one `Removed`
//!   (its state stays in Redis);
//! - a campaign is validated with its audience: a CSV that lacks a parameter's column or holds
//!   more bad data than `max_bad_share` makes the campaign invalid (the CSV is re-read only when
//!   it or the audience settings change);
//! - a file that fails validation keeps its previous valid version in force and yields `Invalid`
//!   on every reload until fixed (the daemon logs it and counts it in the reload-error metric);
//! - two files with one id: the file already in force keeps it, the other is `Invalid`;
//! - only `*.toml` files directly in the directory count; hidden files (`.x`, `.#x` locks) and
//!   editor leftovers (`x~`, `.swp`) are ignored.
//!
//! `reload` does blocking file IO: call it from `spawn_blocking` or a dedicated thread.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use notify_debouncer_full::notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult, Debouncer, RecommendedCache};
use tokio::sync::mpsc;

use super::audience::{scan_audience, AudienceError};
use super::file::{AudienceSpec, Campaign, CampaignContext};
use super::load::load_campaign;
use super::validate::id_place;
use crate::contact::ContactHasher;

/// How long the watcher waits for a burst of events (an editor's write-rename) to settle.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// What changed in a reload.
// A few per reload: their size does not matter, plain fields are easier to match on.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum RegistryEvent {
    Added(Campaign),
    Changed {
        old: Campaign,
        new: Campaign,
        /// Template or audience file changed: progress starts over under the new run key.
        new_run: bool,
    },
    Removed {
        id: String,
        file: PathBuf,
    },
    Invalid {
        file: PathBuf,
        error: String,
    },
}

/// Why a reload was asked for (for the log line; both lead to the same rescan).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadTrigger {
    FileChange,
    Signal,
}

/// The campaigns in force, by file.
#[derive(Debug)]
pub struct Registry {
    dir: PathBuf,
    ctx: CampaignContext,
    by_file: BTreeMap<PathBuf, Campaign>,
    audiences: AudienceChecks,
    /// The last reload could not read the directory or a file (an IO error, e.g. EMFILE under a
    /// flood of connections): the caller should rescan soon, since no file event may come.
    read_failed: bool,
}

impl Registry {
    /// An empty registry; the first [`Registry::reload`] adds what the directory holds.
    pub fn new(dir: PathBuf, ctx: CampaignContext) -> Self {
        Self {
            dir,
            ctx,
            by_file: BTreeMap::new(),
            audiences: AudienceChecks::default(),
            read_failed: false,
        }
    }

    /// The daemon config changed (senders, calendars): the next reload validates against it.
    pub fn set_context(&mut self, ctx: CampaignContext) {
        self.ctx = ctx;
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Campaigns in force, in file-name order.
    pub fn campaigns(&self) -> impl Iterator<Item = &Campaign> {
        self.by_file.values()
    }

    pub fn get(&self, id: &str) -> Option<&Campaign> {
        self.by_file.values().find(|c| c.id == id)
    }

    /// Whether the last [`Registry::reload`] met an IO error worth a retry (issue #16).
    pub fn read_failed(&self) -> bool {
        self.read_failed
    }

    /// Rescans the directory; returns what changed, in file-name order.
    pub fn reload(&mut self) -> Vec<RegistryEvent> {
        self.read_failed = false;
        let files = match campaign_files(&self.dir) {
            Ok(files) => files,
            Err(e) => {
                self.read_failed = true;
                // The directory itself is unreadable: keep everything in force.
                return vec![RegistryEvent::Invalid {
                    file: self.dir.clone(),
                    error: format!(
                        "{}: cannot list campaigns directory: {e}",
                        self.dir.display()
                    ),
                }];
            }
        };
        // Files already in force claim their ids first, so a newcomer cannot steal one.
        let (known, fresh): (Vec<_>, Vec<_>) =
            files.iter().partition(|f| self.by_file.contains_key(*f));
        let mut next: BTreeMap<PathBuf, Campaign> = BTreeMap::new();
        let mut ids: BTreeMap<String, PathBuf> = BTreeMap::new();
        let mut invalid = Vec::new();
        for file in known.into_iter().chain(fresh) {
            let loaded = load_campaign(file, &self.ctx)
                .map_err(|e| {
                    if matches!(e, crate::campaign::file::CampaignFileError::Read { .. }) {
                        self.read_failed = true;
                    }
                    e.to_string()
                })
                .and_then(|c| match self.audiences.verdict(&c) {
                    Ok(()) => Ok(c),
                    Err(e) => Err(format!("{}: {e}", c.file.display())),
                })
                .and_then(|c| match ids.get(&c.id) {
                    Some(other) => Err(format!(
                        "{}: id: campaign id `{}` is already used by {}, expected a unique id",
                        id_place(file, file),
                        c.id,
                        other.display()
                    )),
                    None => Ok(c),
                });
            match loaded {
                Ok(c) => {
                    ids.insert(c.id.clone(), file.clone());
                    next.insert(file.clone(), c);
                }
                Err(error) => {
                    invalid.push(RegistryEvent::Invalid {
                        file: file.clone(),
                        error,
                    });
                    if let Some(old) = self.by_file.get(file) {
                        if !ids.contains_key(&old.id) {
                            ids.insert(old.id.clone(), file.clone());
                            next.insert(file.clone(), old.clone());
                        }
                    }
                }
            }
        }
        let mut events = Vec::new();
        for (file, old) in &self.by_file {
            match next.get(file) {
                None => events.push(RegistryEvent::Removed {
                    id: old.id.clone(),
                    file: file.clone(),
                }),
                Some(new) if new.id != old.id => {
                    events.push(RegistryEvent::Removed {
                        id: old.id.clone(),
                        file: file.clone(),
                    });
                    events.push(RegistryEvent::Added(new.clone()));
                }
                Some(new) if new != old => events.push(RegistryEvent::Changed {
                    old: old.clone(),
                    new: new.clone(),
                    new_run: old.run_key() != new.run_key(),
                }),
                Some(_) => {}
            }
        }
        for (file, new) in &next {
            if !self.by_file.contains_key(file) {
                events.push(RegistryEvent::Added(new.clone()));
            }
        }
        events.extend(invalid);
        self.audiences.retain(|file| next.contains_key(file));
        self.by_file = next;
        events
    }
}

/// The audience half of validation: a campaign whose CSV lacks a column its parameters use, or
/// holds too much bad data, is invalid like a broken TOML file. Reading a large CSV takes a
/// second or two, so each verdict is kept until the campaign's audience settings or the CSV's
/// size or modification time change.
#[derive(Debug, Default)]
struct AudienceChecks {
    by_file: BTreeMap<PathBuf, (AudienceStamp, Result<(), Arc<AudienceError>>)>,
}

#[derive(Debug, PartialEq)]
struct AudienceStamp {
    spec: AudienceSpec,
    params: Vec<String>,
    modified: Option<SystemTime>,
    len: u64,
}

impl AudienceChecks {
    /// `Ok` when the audience is usable; the error is shared with the cached verdict.
    fn verdict(&mut self, c: &Campaign) -> Result<(), Arc<AudienceError>> {
        let meta = std::fs::metadata(&c.audience.file).ok();
        let stamp = AudienceStamp {
            spec: c.audience.clone(),
            params: c
                .template
                .params
                .iter()
                .map(|p| p.as_str().to_string())
                .collect(),
            modified: meta.as_ref().and_then(|m| m.modified().ok()),
            len: meta.as_ref().map_or(0, |m| m.len()),
        };
        if let Some((known, verdict)) = self.by_file.get(&c.file) {
            if *known == stamp {
                return verdict.clone();
            }
        }
        // Any key works to count duplicates inside one file; these keys are never stored.
        let hasher = ContactHasher::new(b"tierpace-registry-audience-check");
        let verdict = scan_audience(&c.audience, &c.template.params, &hasher)
            .map(|_| ())
            .map_err(Arc::new);
        self.by_file
            .insert(c.file.clone(), (stamp, verdict.clone()));
        verdict
    }

    fn retain(&mut self, keep: impl Fn(&Path) -> bool) {
        self.by_file.retain(|file, _| keep(file));
    }
}

/// Whether a directory entry is a campaign file (not hidden, not an editor's temporary file).
pub fn is_campaign_file(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    !name.starts_with('.') && !name.ends_with('~') && name.ends_with(".toml") && name.len() > 5
}

/// The campaign files directly in `dir`, sorted.
pub fn campaign_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = BTreeSet::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if is_campaign_file(&path) && path.is_file() {
            files.insert(path);
        }
    }
    Ok(files.into_iter().collect())
}

/// Keeps the directory watcher alive; dropping it stops watching.
pub struct WatchGuard {
    _debouncer: Debouncer<notify_debouncer_full::notify::RecommendedWatcher, RecommendedCache>,
}

impl std::fmt::Debug for WatchGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WatchGuard")
    }
}

/// Why the directory cannot be watched.
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot watch campaigns directory: {source}", dir.display())]
pub struct WatchError {
    pub dir: PathBuf,
    #[source]
    pub source: notify_debouncer_full::notify::Error,
}

/// Watches `dir` and sends [`ReloadTrigger::FileChange`] (as the channel's message type, so the
/// daemon's one reload channel takes it directly) after each settled burst of changes to
/// campaign files. A full channel means a reload is already pending, so the trigger is dropped.
pub fn watch_dir<T>(dir: &Path, tx: mpsc::Sender<T>) -> Result<WatchGuard, WatchError>
where
    T: From<ReloadTrigger> + Send + 'static,
{
    let err = |source| WatchError {
        dir: dir.to_path_buf(),
        source,
    };
    let mut debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
        let relevant = match result {
            Ok(events) => events.iter().any(|e| {
                changes_content(&e.event.kind) && e.event.paths.iter().any(|p| is_campaign_file(p))
            }),
            // The watcher lost track (e.g. queue overflow): a rescan is the safe answer.
            Err(_) => true,
        };
        if relevant {
            let _ = tx.try_send(T::from(ReloadTrigger::FileChange));
        }
    })
    .map_err(err)?;
    debouncer
        .watch(dir, RecursiveMode::NonRecursive)
        .map_err(err)?;
    Ok(WatchGuard {
        _debouncer: debouncer,
    })
}

/// Whether a file event can change what a campaign file says: a create, write, rename or
/// remove. Opening and reading (inotify's `IN_OPEN`, `IN_CLOSE_NOWRITE`, reported as `Access`)
/// cannot; counting them made every reload, which reads the files, trigger the next one (and
/// so did `cat` or `tierpace check` on a campaign file): a reload loop several times a second.
fn changes_content(kind: &EventKind) -> bool {
    !matches!(kind, EventKind::Access(_))
}

/// Sends [`ReloadTrigger::Signal`] (as the channel's message type) on each SIGHUP until the
/// channel closes. The daemon and the tests use this one handler (STYLE.md 15: SIGHUP and the
/// watcher send the same message on the same channel).
pub fn spawn_sighup<T>(tx: mpsc::Sender<T>) -> std::io::Result<tokio::task::JoinHandle<()>>
where
    T: From<ReloadTrigger> + Send + 'static,
{
    use futures::StreamExt;
    let mut signals = signal_hook_tokio::Signals::new([signal_hook::consts::SIGHUP])?;
    Ok(tokio::spawn(async move {
        while signals.next().await.is_some() {
            if tx.send(T::from(ReloadTrigger::Signal)).await.is_err() {
                break;
            }
        }
    }))
}
