//! Audiences as operators' tools write them (../shared/field/): an Excel pt-BR export in
//! Windows-1252 with `;` and CRLF, and a CRLF file whose line numbers `tierpace check` must name
//! as the operator's editor shows them.
mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use support::daemon::{start_in_process, wait_for};
use support::fake_gupshup::{FakeGupshup, FakeGupshupConfig};
use support::scenario::{self, ScenarioSpec};
use tierpace::campaign::{
    load_campaign, AudienceReader, CampaignContext, EncodingSetting, TextEncoding,
};
use tierpace::clock::SystemClock;
use tierpace::contact::ContactHasher;

const FIELD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/field");

fn field(path: &str) -> PathBuf {
    Path::new(FIELD).join(path)
}

/// The Excel campaign laid out as its file says (`contacts/c.csv` beside it), with `edit`
/// applied to the campaign text.
fn excel_campaign(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    std::fs::create_dir_all(dir.join("contacts")).unwrap();
    std::fs::copy(
        field("csv-cp1252-excel/contacts.csv"),
        dir.join("contacts/c.csv"),
    )
    .unwrap();
    let text = std::fs::read_to_string(field("csv-cp1252-excel/campaign.toml")).unwrap();
    let path = dir.join("excel.toml");
    std::fs::write(&path, edit(text)).unwrap();
    path
}

#[test]
fn an_excel_windows_1252_export_reads_both_rows_with_names_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = excel_campaign(dir.path(), |t| t);
    let ctx = CampaignContext {
        senders: BTreeSet::from(["demo".to_string()]),
        calendars: BTreeSet::from(["always".to_string()]),
        providers: Default::default(),
    };
    let campaign = load_campaign(&path, &ctx).unwrap();
    assert_eq!(campaign.audience.encoding, EncodingSetting::Auto);
    let reader = AudienceReader::open(
        &campaign.audience,
        &campaign.template.params,
        &ContactHasher::new(b"field"),
    )
    .unwrap();
    assert_eq!(reader.encoding(), TextEncoding::Windows1252);
    let rows: Vec<_> = reader.map(|r| r.unwrap()).collect();
    let got: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.line,
                r.name.clone().unwrap(),
                r.number.as_str().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (2, "João Araújo".to_string(), "5585999990001".to_string()),
            (3, "Ana Souza".to_string(), "5585999990003".to_string()),
        ]
    );
}

#[test]
fn declared_windows_1252_and_accented_header_names_read_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    // Excel writes the header in Windows-1252 too: an accented column name must still match.
    std::fs::create_dir_all(dir.path().join("contacts")).unwrap();
    std::fs::write(
        dir.path().join("contacts/c.csv"),
        b"Nome;Telefone;Op\xE7\xE3o\r\nJo\xE3o Ara\xFAjo;(85) 99999-0001;Sim\r\n",
    )
    .unwrap();
    let path = dir.path().join("x.toml");
    let text = std::fs::read_to_string(field("csv-cp1252-excel/campaign.toml"))
        .unwrap()
        .replace("Autoriza contato", "OPÇÃO")
        .replace("[audience]\n", "[audience]\nencoding = \"windows-1252\"\n")
        .replace(
            "category = \"marketing\"",
            "category = \"marketing\"\nparams = [\"Olá {{nome}}\"]",
        );
    std::fs::write(&path, text).unwrap();
    let ctx = CampaignContext {
        senders: BTreeSet::from(["demo".to_string()]),
        calendars: BTreeSet::from(["always".to_string()]),
        providers: Default::default(),
    };
    let campaign = load_campaign(&path, &ctx).unwrap();
    assert_eq!(campaign.audience.encoding, EncodingSetting::Windows1252);
    let rows: Vec<_> = AudienceReader::open(
        &campaign.audience,
        &campaign.template.params,
        &ContactHasher::new(b"field"),
    )
    .unwrap()
    .map(|r| r.unwrap())
    .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].params, ["Olá João Araújo"]);
}

#[test]
fn an_unknown_encoding_is_refused_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = excel_campaign(dir.path(), |t| {
        t.replace("[audience]\n", "[audience]\nencoding = \"latin9\"\n")
    });
    let ctx = CampaignContext {
        senders: BTreeSet::from(["demo".to_string()]),
        calendars: BTreeSet::from(["always".to_string()]),
        providers: Default::default(),
    };
    let err = load_campaign(&path, &ctx).unwrap_err().to_string();
    assert!(
        err.contains(":6:12: audience.encoding: encoding `latin9` is not known"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excel_names_reach_gupshup_as_utf8_template_parameters() {
    let fake = FakeGupshup::start(FakeGupshupConfig::default()).await;
    let s = scenario::write(&ScenarioSpec {
        gupshup_url: &fake.base_url(),
        contacts: 0,
        ..Default::default()
    });
    let campaigns = s.dir.path().join("campaigns");
    std::fs::remove_file(campaigns.join("bf.toml")).unwrap();
    excel_campaign(&campaigns, |t| {
        t.replace("sender = \"demo\"", "sender = \"sac\"")
            .replace(
                "category = \"marketing\"",
                "category = \"marketing\"\nparams = [\"{{Nome}}\"]",
            )
            .replace("[schedule]", "[pacing]\nmode = \"asap\"\n[schedule]")
    });
    let (token, task) = start_in_process(s.config.clone(), Arc::new(SystemClock));
    let sent = wait_for(|| fake.sends().len() >= 2, 30).await;
    token.cancel();
    task.await.unwrap().unwrap();
    assert!(sent, "only {} sent", fake.sends().len());
    let mut got: Vec<_> = fake
        .sends()
        .into_iter()
        .map(|s| (s.destination, s.params))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("5585999990001".to_string(), vec!["João Araújo".to_string()]),
            ("5585999990003".to_string(), vec!["Ana Souza".to_string()]),
        ]
    );
}

#[test]
fn check_names_the_crlf_file_own_line_numbers() {
    let s = scenario::write(&ScenarioSpec::default());
    let campaigns = s.dir.path().join("campaigns");
    std::fs::copy(
        field("csv-crlf-line-numbers/contacts.csv"),
        campaigns.join("contacts/audience.csv"),
    )
    .unwrap();
    // Only the line numbers are under test here: no share of bad rows refuses the file.
    let bf = std::fs::read_to_string(campaigns.join("bf.toml"))
        .unwrap()
        .replace("[audience]\n", "[audience]\nmax_bad_share = 1.0\n");
    std::fs::write(campaigns.join("bf.toml"), bf).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tierpace"))
        .args(["check", "--config"])
        .arg(&s.config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("line 4: opt_in is `não`"), "{text}");
    assert!(!text.contains("line 3: opt_in"), "{text}");
}
