//! A daemon config directory for end-to-end tests: one Gupshup sender pointed at a fake, one
//! campaign with a generated audience of opted-in Brazilian mobiles.
use std::path::PathBuf;

use super::redis_server::free_port;

/// The Gupshup webhook secret every scenario configures (a file the config names).
pub const GUPSHUP_WEBHOOK_SECRET: &str = "e2e-webhook-secret";
/// The Gupshup webhook path with the secret in it, as README's set-up configures it.
pub const GUPSHUP_HOOK: &str = "/webhooks/gupshup/e2e-webhook-secret";

pub struct Scenario {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub http_port: u16,
    pub contacts: usize,
}

pub struct ScenarioSpec<'a> {
    pub redis_url: Option<&'a str>,
    pub gupshup_url: &'a str,
    pub api_key: &'a str,
    pub tier: &'a str,
    pub contacts: usize,
    pub max_mps: u32,
    /// TOML body of `[calendars.hours]`; `None` uses the built-in `always`.
    pub calendar: Option<&'a str>,
    pub mode: &'a str,
    pub key_prefix: &'a str,
    /// The daemon's HTTP port (default: a free one).
    pub http_port: Option<u16>,
    /// Bearer token for admin changes (written to a file the config names).
    pub admin_token: Option<&'a str>,
}

impl Default for ScenarioSpec<'_> {
    fn default() -> Self {
        Self {
            redis_url: None,
            gupshup_url: "http://127.0.0.1:9",
            api_key: "test-gupshup-key",
            tier: "1k",
            contacts: 100,
            max_mps: 200,
            calendar: None,
            mode: "asap",
            key_prefix: "tp",
            http_port: None,
            admin_token: None,
        }
    }
}

/// The number of the i-th generated contact (E.164 digits).
pub fn number(i: usize) -> String {
    format!("5585{}", 900_000_000 + i)
}

pub fn write(spec: &ScenarioSpec) -> Scenario {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("campaigns/contacts")).unwrap();
    std::fs::write(
        root.join("hash.key"),
        "e2e-hash-key-0123456789abcdef0123456789\n",
    )
    .unwrap();
    std::fs::write(root.join("gupshup.key"), format!("{}\n", spec.api_key)).unwrap();
    std::fs::write(
        root.join("gupshup-webhook.secret"),
        format!("{GUPSHUP_WEBHOOK_SECRET}\n"),
    )
    .unwrap();
    let http_port = spec.http_port.unwrap_or_else(free_port);
    let admin = match spec.admin_token {
        Some(t) => {
            std::fs::write(root.join("admin.token"), format!("{t}\n")).unwrap();
            format!("admin_token_file = \"{}/admin.token\"\n", root.display())
        }
        None => String::new(),
    };
    let state = match spec.redis_url {
        Some(url) => format!("state = \"redis\"\nredis_url = \"{url}\"\n"),
        None => "state = \"memory\"\n".to_string(),
    };
    let calendar_section = spec
        .calendar
        .map(|c| format!("[calendars.hours]\n{c}\n"))
        .unwrap_or_default();
    let config = format!(
        r#"{state}key_prefix = "{prefix}"
hash_key_file = "{root}/hash.key"
campaigns_dir = "campaigns"
lease_ttl = "2s"
drain_timeout = "3s"

[http]
listen = "127.0.0.1:{http_port}"
gupshup_secret_file = "{root}/gupshup-webhook.secret"
{admin}
{calendar_section}
[senders.sac]
provider = "gupshup"
source = "5585999990000"
app_name = "TierpaceTest"
api_key_file = "{root}/gupshup.key"
base_url = "{url}"
initial_tier = "{tier}"
max_mps = {mps}
timeout = "2s"
"#,
        prefix = spec.key_prefix,
        root = root.display(),
        url = spec.gupshup_url,
        tier = spec.tier,
        mps = spec.max_mps,
    );
    let config_path = root.join("tierpace.toml");
    std::fs::write(&config_path, config).unwrap();
    let mut csv = String::from("name,ddi,phone,email,opt_in\n");
    for i in 0..spec.contacts {
        let n = number(i);
        csv.push_str(&format!(
            "Cliente {i},55,{},c{i}@example.com,sim\n",
            &n[2..]
        ));
    }
    std::fs::write(root.join("campaigns/contacts/audience.csv"), csv).unwrap();
    let calendar = if spec.calendar.is_some() {
        "hours"
    } else {
        "always"
    };
    std::fs::write(
        root.join("campaigns/bf.toml"),
        format!(
            r#"id = "bf"
sender = "sac"
[template]
id = "6f1c2a3b-0000-4000-8000-000000000001"
category = "marketing"
params = ["{{{{name}}}}"]
[audience]
file = "contacts/audience.csv"
default_ddi = "55"
[schedule]
calendar = "{calendar}"
[pacing]
mode = "{mode}"
"#,
            mode = spec.mode
        ),
    )
    .unwrap();
    Scenario {
        dir,
        config: config_path,
        http_port,
        contacts: spec.contacts,
    }
}

impl Scenario {
    /// A second daemon config on the same campaigns directory and state, on its own port (a
    /// replica).
    pub fn replica_config(&self) -> (PathBuf, u16) {
        let port = free_port();
        let text = std::fs::read_to_string(&self.config).unwrap().replace(
            &format!("listen = \"127.0.0.1:{}\"", self.http_port),
            &format!("listen = \"127.0.0.1:{port}\""),
        );
        let path = self.dir.path().join(format!("replica-{port}.toml"));
        std::fs::write(&path, text).unwrap();
        (path, port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }
}
