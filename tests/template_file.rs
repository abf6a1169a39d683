//! Issue #18: the `[template]` header / body / buttons keys, each mistake named by file, line
//! and key, and what the audience does with values WhatsApp would refuse.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use tierpace::campaign::audience::{scan_audience, SkipReason};
use tierpace::campaign::validate::parse_campaign;
use tierpace::campaign::{Campaign, CampaignContext};
use tierpace::contact::ContactHasher;
use tierpace::provider::ProviderKind;

fn ctx(provider: ProviderKind) -> CampaignContext {
    CampaignContext {
        senders: BTreeSet::from(["s".to_string()]),
        calendars: BTreeSet::from(["always".to_string()]),
        providers: BTreeMap::from([("s".to_string(), provider)]),
    }
}

const META: &str = "sender = \"s\"\n[template]\nname = \"oferta\"\nlanguage = \"pt_BR\"\ncategory = \"marketing\"\n";
const TAIL: &str =
    "[audience]\nfile = \"c.csv\"\nmax_bad_share = 1.0\n[schedule]\ncalendar = \"always\"\n";

fn parse(dir: &Path, template: &str, provider: ProviderKind) -> Result<Campaign, Vec<String>> {
    let text = format!("{META}{template}\n{TAIL}");
    parse_campaign(&dir.join("bf.toml"), &text, &ctx(provider))
        .map_err(|ps| ps.iter().map(|p| p.render(Path::new("bf.toml"))).collect())
}

fn dir(csv: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("c.csv"), csv).unwrap();
    d
}

#[test]
fn each_template_mistake_names_its_line_and_key() {
    let d = dir("name,phone,opt_in\n");
    let errors = parse(
        d.path(),
        "header = { type = \"image\", link = \"http://cdn.example.com/{{img}}\" }\nbody = [\"{{name}}\", \" \"]\nbuttons = [\n  { type = \"url\", index = 0, param = \"{{cupom}}\" },\n  { type = \"call\", index = 1 },\n  { type = \"quick_reply\", index = 0, payload = \"SAIR\" },\n]",
        ProviderKind::Meta,
    )
    .unwrap_err();
    assert_eq!(
        errors,
        [
            "bf.toml:6:10: template.header.link: media link must be an https:// URL",
            "bf.toml:7:21: template.body[1]: empty parameter, expected text or a {{column}}: WhatsApp refuses empty parameters (132000)",
            "bf.toml:10:3: template.buttons[1].type: button type `call` is not known, expected \"url\", \"quick_reply\" or \"copy_code\"",
            "bf.toml:11:3: template.buttons[2].index: index 0 is given twice, expected one entry per button",
        ]
    );
}

#[test]
fn a_template_style_the_senders_provider_cannot_send_is_refused() {
    let d = dir("name,phone,opt_in\n");
    let errors = parse(d.path(), "", ProviderKind::Gupshup).unwrap_err();
    assert_eq!(
        errors,
        ["bf.toml:2:1: template: sender `s` uses Gupshup, which names templates by `id` (the template UUID), not `name` + `language`"]
    );
    assert!(parse(d.path(), "", ProviderKind::Meta).is_ok());
}

#[test]
fn params_stays_an_alias_of_body_and_media_of_header() {
    let d = dir("name,phone,opt_in\n");
    let c = parse(
        d.path(),
        "params = [\"{{name}}\"]\nmedia = { type = \"video\", link = \"https://x.example/v.mp4\" }",
        ProviderKind::Meta,
    )
    .unwrap();
    let slots: Vec<String> = c.template.params.iter().map(|p| p.to_string()).collect();
    assert_eq!(slots, ["https://x.example/v.mp4", "{{name}}"]);
}

const CSV: &str = "name,phone,opt_in,cupom,img,valor_mil\n\
Ana,85999990001,sim,ANA10,https://cdn.example.com/a.jpg,10500\n\
Bruno,85999990002,sim,,https://cdn.example.com/b.jpg,20000\n\
Carla,85999990003,sim,CAR5,http://cdn.example.com/c.jpg,30000\n\
Davi,85999990004,sim,DAV5,https://cdn.example.com/d.jpg,dez\n\
\"Eva\nMaria\",85999990005,sim,EVA1,https://cdn.example.com/e.jpg,50000\n";

const FULL: &str = "header = { type = \"image\", link = \"{{img}}\" }\nbody = [\"{{name}}\", { currency = { code = \"BRL\", amount_1000 = \"{{valor_mil}}\", fallback = \"R$\" } }]\nbuttons = [{ type = \"copy_code\", index = 0, code = \"{{cupom}}\" }]";

#[test]
fn rows_whose_values_whatsapp_would_refuse_are_skipped_with_the_reason() {
    let d = dir(CSV);
    let c = parse(d.path(), FULL, ProviderKind::Meta).unwrap();
    let s = scan_audience(&c.audience, &c.template.params, &ContactHasher::new(b"t"))
        .unwrap_or_else(|e| panic!("{e}"));
    let missing = &s.skips[&SkipReason::MissingParam];
    assert_eq!(missing.first, [(3, "column `cupom` is empty".to_string())]);
    let invalid = &s.skips[&SkipReason::InvalidParam];
    assert_eq!(
        invalid.first,
        [
            (
                4,
                "link `http://cdn.example.com/c.jpg` is not https://".to_string()
            ),
            (
                5,
                "amount_1000 `dez` is not a whole number (the amount times 1000)".to_string()
            ),
        ]
    );
    // Eva's name holds a newline: normalised to one space by default and counted.
    assert_eq!((s.valid, s.params_normalised), (2, 1));
}

#[test]
fn param_cleanup_skip_row_skips_what_normalise_would_collapse() {
    let d = dir(CSV);
    let text = format!("{FULL}\n");
    let c = parse(d.path(), &text, ProviderKind::Meta).unwrap();
    let mut audience = c.audience.clone();
    audience.param_cleanup = tierpace::campaign::file::ParamCleanup::SkipRow;
    let s = scan_audience(&audience, &c.template.params, &ContactHasher::new(b"t"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((s.valid, s.params_normalised), (1, 0));
    assert_eq!(
        s.skips[&SkipReason::InvalidParam].first.last().unwrap(),
        &(6, "a parameter has a newline".to_string())
    );
}
