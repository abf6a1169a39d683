//! The registry while operators edit the campaigns directory: adds, edits, new runs, renames,
//! deletes, corrupt files that keep the previous version in force, duplicate ids, and editors'
//! temporary files; then the same through the real file watcher and SIGHUP.
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use tierpace::campaign::registry::{is_campaign_file, DEBOUNCE};
use tierpace::campaign::{
    spawn_sighup, watch_dir, CampaignContext, Registry, RegistryEvent, ReloadTrigger,
};
use tokio::sync::mpsc;

fn ctx() -> CampaignContext {
    CampaignContext {
        senders: BTreeSet::from(["demo".to_string()]),
        calendars: BTreeSet::from(["always".to_string()]),
        providers: Default::default(),
    }
}

fn campaign(id: &str, template: &str, priority: u32) -> String {
    format!(
        r#"id = "{id}"
sender = "demo"
priority = {priority}
[template]
id = "{template}"
category = "marketing"
[audience]
file = "contacts.csv"
[schedule]
calendar = "always"
"#
    )
}

const T1: &str = "11111111-1111-4111-8111-111111111111";
const T2: &str = "22222222-2222-4222-8222-222222222222";

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("contacts.csv"),
        "phone,opt_in\n85999990000,sim\n",
    )
    .unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// Events as short strings, easy to compare.
fn summary(events: &[RegistryEvent]) -> Vec<String> {
    let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
    events
        .iter()
        .map(|e| match e {
            RegistryEvent::Added(c) => format!("added {} {}", c.id, name(&c.file)),
            RegistryEvent::Changed { new, new_run, .. } => {
                format!("changed {} new_run={new_run}", new.id)
            }
            RegistryEvent::Removed { id, file } => format!("removed {id} {}", name(file)),
            RegistryEvent::Invalid { file, .. } => format!("invalid {}", name(file)),
        })
        .collect()
}

fn in_force(reg: &Registry) -> Vec<(String, u32)> {
    reg.campaigns()
        .map(|c| (c.id.clone(), c.priority))
        .collect()
}

#[test]
fn the_registry_follows_the_directory_and_keeps_the_last_valid_version() {
    let dir = setup();
    let d = dir.path();
    let mut reg = Registry::new(d.to_path_buf(), ctx());
    assert!(reg.reload().is_empty());

    write(d, "a.toml", &campaign("alpha", T1, 1));
    write(d, "b.toml", &campaign("beta", T1, 2));
    assert_eq!(
        summary(&reg.reload()),
        ["added alpha a.toml", "added beta b.toml"]
    );
    // Nothing changed: nothing to say.
    assert!(reg.reload().is_empty());

    // An edit that keeps template and audience keeps progress.
    write(d, "a.toml", &campaign("alpha", T1, 5));
    assert_eq!(summary(&reg.reload()), ["changed alpha new_run=false"]);
    // A new template is a new run.
    write(d, "a.toml", &campaign("alpha", T2, 5));
    assert_eq!(summary(&reg.reload()), ["changed alpha new_run=true"]);

    // A corrupt file keeps its previous version in force, and says so on every reload.
    write(d, "b.toml", "id = \"beta\"\nsender = ");
    let events = reg.reload();
    assert_eq!(summary(&events), ["invalid b.toml"]);
    let RegistryEvent::Invalid { error, .. } = &events[0] else {
        unreachable!()
    };
    assert!(error.contains("b.toml:2:"), "{error}");
    assert_eq!(in_force(&reg), [("alpha".into(), 5), ("beta".into(), 2)]);
    assert_eq!(summary(&reg.reload()), ["invalid b.toml"]);
    // Fixed with an edit: the new version takes over.
    write(d, "b.toml", &campaign("beta", T1, 3));
    assert_eq!(summary(&reg.reload()), ["changed beta new_run=false"]);

    // Editors' temporary and hidden files are not campaigns.
    write(d, ".b.toml.swp", "garbage");
    write(d, "b.toml~", "garbage");
    write(d, ".#b.toml", "garbage");
    write(d, ".hidden.toml", &campaign("hidden", T1, 1));
    write(d, "notes.txt", "not a campaign");
    assert!(reg.reload().is_empty());

    // A second file with an id in force is refused; the first keeps it.
    write(d, "0-copy.toml", &campaign("alpha", T1, 9));
    assert_eq!(summary(&reg.reload()), ["invalid 0-copy.toml"]);
    assert_eq!(reg.get("alpha").unwrap().priority, 5);
    std::fs::remove_file(d.join("0-copy.toml")).unwrap();

    // A rename stops the old file's campaign and starts the new one (same id: same run key).
    let run_before = reg.get("alpha").unwrap().run_key();
    std::fs::rename(d.join("a.toml"), d.join("c.toml")).unwrap();
    assert_eq!(
        summary(&reg.reload()),
        ["removed alpha a.toml", "added alpha c.toml"]
    );
    assert_eq!(reg.get("alpha").unwrap().run_key(), run_before);

    // An editor's write-to-temp-then-rename save is one change.
    write(d, ".c.toml.tmp", &campaign("alpha", T2, 7));
    std::fs::rename(d.join(".c.toml.tmp"), d.join("c.toml")).unwrap();
    assert_eq!(summary(&reg.reload()), ["changed alpha new_run=false"]);

    // A deleted file stops its campaign, even if it was last seen corrupt.
    write(d, "b.toml", "[[[");
    assert_eq!(summary(&reg.reload()), ["invalid b.toml"]);
    std::fs::remove_file(d.join("b.toml")).unwrap();
    assert_eq!(summary(&reg.reload()), ["removed beta b.toml"]);
    assert_eq!(in_force(&reg), [("alpha".into(), 7)]);
}

#[test]
fn a_new_context_applies_on_the_next_reload() {
    let dir = setup();
    write(dir.path(), "a.toml", &campaign("alpha", T1, 1));
    let mut reg = Registry::new(dir.path().to_path_buf(), ctx());
    assert_eq!(summary(&reg.reload()), ["added alpha a.toml"]);
    // The sender disappears from the daemon config: the file is now invalid, the old version stays.
    reg.set_context(CampaignContext {
        senders: BTreeSet::new(),
        ..ctx()
    });
    assert_eq!(summary(&reg.reload()), ["invalid a.toml"]);
    assert_eq!(in_force(&reg).len(), 1);
}

#[test]
fn temporary_and_hidden_names_are_not_campaign_files() {
    for name in [
        "a.toml.swp",
        ".a.toml.swp",
        "a.toml~",
        ".#a.toml",
        ".a.toml",
        "a.csv",
        ".toml",
        "a.toml.tmp",
    ] {
        assert!(!is_campaign_file(Path::new(name)), "{name}");
    }
    assert!(is_campaign_file(Path::new("/x/black-friday.toml")));
}

/// Waits for the registry task to report state matching `want`.
async fn until(rx: &mut mpsc::Receiver<Vec<(String, u32)>>, want: &[(&str, u32)]) {
    let want: Vec<(String, u32)> = want.iter().map(|(i, p)| (i.to_string(), *p)).collect();
    let wait = async {
        while let Some(state) = rx.recv().await {
            if state == want {
                return;
            }
        }
        panic!("registry task ended");
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .unwrap_or_else(|_| panic!("registry never reached {want:?}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_and_sighup_drive_one_reload_path() {
    let dir = setup();
    let d = dir.path().to_path_buf();
    let (tx, mut triggers) = mpsc::channel::<ReloadTrigger>(1);
    let _guard = watch_dir(&d, tx.clone()).unwrap();
    let _sighup = spawn_sighup(tx.clone()).unwrap();
    let (state_tx, mut state) = mpsc::channel(64);
    let reg_dir = d.clone();
    tokio::spawn(async move {
        let mut reg = Registry::new(reg_dir, ctx());
        while triggers.recv().await.is_some() {
            reg = tokio::task::spawn_blocking(move || {
                reg.reload();
                reg
            })
            .await
            .unwrap();
            if state_tx.send(in_force(&reg)).await.is_err() {
                break;
            }
        }
    });

    write(&d, "a.toml", &campaign("alpha", T1, 1));
    until(&mut state, &[("alpha", 1)]).await;
    write(&d, "a.toml", &campaign("alpha", T1, 2));
    until(&mut state, &[("alpha", 2)]).await;
    write(&d, "a.toml", "broken =");
    write(&d, "b.toml", &campaign("beta", T1, 1));
    until(&mut state, &[("alpha", 2), ("beta", 1)]).await;
    std::fs::rename(d.join("b.toml"), d.join("c.toml")).unwrap();
    std::fs::remove_file(d.join("a.toml")).unwrap();
    until(&mut state, &[("beta", 1)]).await;
}

/// Reading a campaign file (a reload does, and so do `cat` and `tierpace check`) is not a
/// change: before this, each reload's own reads triggered the next one, several times a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_a_campaign_file_is_not_a_change() {
    let dir = setup();
    let d = dir.path().to_path_buf();
    write(&d, "a.toml", &campaign("alpha", T1, 1));
    let (tx, mut triggers) = mpsc::channel::<ReloadTrigger>(16);
    let _guard = watch_dir(&d, tx).unwrap();
    // Let any event from the write above settle and drain it.
    tokio::time::sleep(DEBOUNCE * 4).await;
    while triggers.try_recv().is_ok() {}

    // Read the file as a reload does, and as an operator's `cat` does, several times.
    for _ in 0..3 {
        let mut reg = Registry::new(d.clone(), ctx());
        reg.reload();
        assert_eq!(in_force(&reg), vec![("alpha".to_string(), 1)]);
        std::fs::read_to_string(d.join("a.toml")).unwrap();
        tokio::time::sleep(DEBOUNCE).await;
    }
    tokio::time::sleep(DEBOUNCE * 4).await;
    assert!(
        triggers.try_recv().is_err(),
        "a read of a campaign file triggered a reload"
    );

    // A write still does.
    write(&d, "a.toml", &campaign("alpha", T1, 2));
    let got = tokio::time::timeout(Duration::from_secs(20), triggers.recv())
        .await
        .expect("a write triggers a reload");
    assert_eq!(got, Some(ReloadTrigger::FileChange));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_alone_reloads_the_directory() {
    let dir = setup();
    let d = dir.path().to_path_buf();
    // No watcher here: only the signal can make the registry see the new file.
    let (tx, mut triggers) = mpsc::channel::<ReloadTrigger>(1);
    let _sighup = spawn_sighup(tx).unwrap();
    let (state_tx, mut state) = mpsc::channel(64);
    let reg_dir = d.clone();
    tokio::spawn(async move {
        let mut reg = Registry::new(reg_dir, ctx());
        while let Some(trigger) = triggers.recv().await {
            reg.reload();
            if state_tx.send((trigger, in_force(&reg))).await.is_err() {
                break;
            }
        }
    });
    write(&d, "a.toml", &campaign("alpha", T1, 1));
    signal_hook::low_level::raise(signal_hook::consts::SIGHUP).unwrap();
    let got = tokio::time::timeout(Duration::from_secs(20), state.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, (ReloadTrigger::Signal, vec![("alpha".to_string(), 1)]));
}

#[test]
fn a_campaign_is_only_as_valid_as_its_audience() {
    let dir = setup();
    let d = dir.path();
    let with_param = campaign("alpha", T1, 1).replace(
        "category = \"marketing\"",
        "category = \"marketing\"\nparams = [\"{{cupom}}\"]",
    );
    write(d, "a.toml", &with_param);
    let mut reg = Registry::new(d.to_path_buf(), ctx());
    let events = reg.reload();
    assert_eq!(summary(&events), ["invalid a.toml"]);
    let RegistryEvent::Invalid { error, .. } = &events[0] else {
        unreachable!()
    };
    assert!(
        error.contains("column `cupom` is not in the audience header"),
        "{error}"
    );

    // The CSV gains the column: the campaign is valid on the next reload.
    write(
        d,
        "contacts.csv",
        "phone,opt_in,cupom\n85999990000,sim,BF\n",
    );
    assert_eq!(summary(&reg.reload()), ["added alpha a.toml"]);

    // The CSV is replaced by a broken export: refused, the version in force stays.
    write(
        d,
        "contacts.csv",
        "phone,opt_in,cupom\n123,sim,BF\n85999990000,sim,BF\n",
    );
    write(
        d,
        "a.toml",
        &with_param.replace("priority = 1", "priority = 2"),
    );
    let events = reg.reload();
    assert_eq!(summary(&events), ["invalid a.toml"]);
    let RegistryEvent::Invalid { error, .. } = &events[0] else {
        unreachable!()
    };
    assert!(
        error.contains("1 of 2 rows (50.0%) have bad data"),
        "{error}"
    );
    assert_eq!(in_force(&reg), [("alpha".into(), 1)]);
}

#[test]
fn a_directory_that_cannot_be_read_asks_for_a_retry_and_keeps_the_campaigns() {
    // Issue #16: a scan that fails to read (EMFILE under a connection flood, a flaky mount) must
    // be retried by the daemon: the registry says so, and keeps what is in force meanwhile.
    let dir = setup();
    let d = dir.path();
    write(d, "a.toml", &campaign("a", T1, 1));
    let mut reg = Registry::new(d.to_path_buf(), ctx());
    assert_eq!(summary(&reg.reload()), ["added a a.toml"]);
    assert!(!reg.read_failed());
    let moved = d.with_extension("away");
    std::fs::rename(d, &moved).unwrap();
    std::fs::write(d, "not a directory").unwrap();
    let events = reg.reload();
    assert!(reg.read_failed());
    assert!(matches!(events.as_slice(), [RegistryEvent::Invalid { .. }]));
    assert_eq!(in_force(&reg), vec![("a".to_string(), 1)]);
    std::fs::remove_file(d).unwrap();
    std::fs::rename(&moved, d).unwrap();
    write(d, "b.toml", &campaign("b", T1, 2));
    let events = reg.reload();
    assert!(!reg.read_failed());
    assert_eq!(summary(&events), vec!["added b b.toml".to_string()]);
}
