//! The install script (`scripts/install.sh`, run by `make install`), staged into a temporary
//! DESTDIR: it places the binary, the unit and the config, and running it again (an upgrade)
//! never overwrites the operator's config, environment file or campaigns.
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// What the script installs as "the binary": a small stand-in, since copying the 200 MB debug
/// build a dozen times would only slow the test down (the script treats any executable alike).
const FAKE_BIN: &[u8] = b"#!/bin/sh\necho tierpace test stand-in\n";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A staging root, and a binary and a config source the test controls.
struct Stage {
    root: tempfile::TempDir,
    bin: PathBuf,
    config_src: PathBuf,
}

impl Stage {
    fn new(shipped_config: &str) -> Self {
        let root = tempfile::tempdir().unwrap();
        let config_src = root.path().join("shipped-tierpace.toml");
        fs::write(&config_src, shipped_config).unwrap();
        let bin = root.path().join("tierpace");
        fs::write(&bin, FAKE_BIN).unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        Self {
            root,
            bin,
            config_src,
        }
    }

    fn destdir(&self) -> PathBuf {
        self.root.path().join("stage")
    }

    fn path(&self, installed: &str) -> PathBuf {
        self.destdir().join(installed.trim_start_matches('/'))
    }

    fn read(&self, installed: &str) -> String {
        fs::read_to_string(self.path(installed)).unwrap()
    }

    fn mode(&self, installed: &str) -> u32 {
        fs::metadata(self.path(installed))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    /// Runs `scripts/install.sh` with DESTDIR and the given extra variables.
    fn install(&self, vars: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new("bash");
        cmd.arg(repo().join("scripts/install.sh"))
            .env("DESTDIR", self.destdir())
            .env("BIN", &self.bin)
            .env("CONFIG_SRC", &self.config_src)
            .env_remove("PREFIX")
            .env_remove("SYSCONFDIR")
            .env_remove("UNITDIR");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    fn install_ok(&self, vars: &[(&str, &str)]) -> String {
        let out = self.install(vars);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "install.sh failed: {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }
}

#[test]
fn install_places_binary_unit_config_and_an_empty_campaigns_dir() {
    let stage = Stage::new("# shipped config\n");
    stage.install_ok(&[]);

    let bin = stage.path("/usr/local/bin/tierpace");
    assert_eq!(fs::read(&bin).unwrap(), FAKE_BIN);
    assert_eq!(stage.mode("/usr/local/bin/tierpace"), 0o755);

    let unit = stage.read("/etc/systemd/system/tierpace.service");
    assert!(
        unit.contains(
            "\nExecStart=/usr/local/bin/tierpace run --config /etc/tierpace/tierpace.toml\n"
        ),
        "{unit}"
    );
    assert_eq!(
        unit,
        fs::read_to_string(repo().join("systemd/tierpace.service")).unwrap(),
        "default paths: the unit is installed as shipped"
    );

    assert_eq!(
        stage.read("/etc/tierpace/tierpace.toml"),
        "# shipped config\n"
    );
    let campaigns = stage.path("/etc/tierpace/campaigns");
    assert!(campaigns.is_dir());
    assert_eq!(fs::read_dir(&campaigns).unwrap().count(), 0);
    assert_eq!(stage.mode("/etc/tierpace/credentials"), 0o700);
    assert_eq!(stage.mode("/etc/tierpace/tierpace.env"), 0o600);
    assert!(stage
        .path("/usr/local/share/doc/tierpace/override.conf.example")
        .is_file());
}

#[test]
fn reinstalling_never_overwrites_config_env_or_campaigns() {
    let stage = Stage::new("# shipped v1\n");
    stage.install_ok(&[]);

    // The operator edits the config and the environment file and drops a campaign.
    fs::write(
        stage.path("/etc/tierpace/tierpace.toml"),
        "# operator's own\n",
    )
    .unwrap();
    fs::write(stage.path("/etc/tierpace/tierpace.env"), "RUST_LOG=debug\n").unwrap();
    fs::write(
        stage.path("/etc/tierpace/campaigns/spring.toml"),
        "id = 1\n",
    )
    .unwrap();
    // An old binary and unit, to see the upgrade replace them.
    fs::write(stage.path("/usr/local/bin/tierpace"), "old binary").unwrap();
    fs::write(
        stage.path("/etc/systemd/system/tierpace.service"),
        "old unit",
    )
    .unwrap();

    // The upgrade ships a different default config.
    fs::write(&stage.config_src, "# shipped v2\n").unwrap();
    let stdout = stage.install_ok(&[]);

    assert_eq!(
        stage.read("/etc/tierpace/tierpace.toml"),
        "# operator's own\n"
    );
    assert_eq!(stage.read("/etc/tierpace/tierpace.env"), "RUST_LOG=debug\n");
    assert_eq!(
        stage.read("/etc/tierpace/campaigns/spring.toml"),
        "id = 1\n"
    );
    assert!(stdout.contains("kept"), "{stdout}");
    // The new default is still at hand, for a diff.
    assert_eq!(
        stage.read("/usr/local/share/doc/tierpace/tierpace.toml.example"),
        "# shipped v2\n"
    );
    assert_eq!(
        fs::read(stage.path("/usr/local/bin/tierpace")).unwrap(),
        FAKE_BIN
    );
    assert!(stage
        .read("/etc/systemd/system/tierpace.service")
        .contains("Type=notify"));
}

#[test]
fn prefix_and_sysconfdir_are_written_into_the_installed_unit() {
    let stage = Stage::new("# cfg\n");
    stage.install_ok(&[("PREFIX", "/opt/tierpace"), ("SYSCONFDIR", "/srv/etc")]);

    assert!(stage.path("/opt/tierpace/bin/tierpace").is_file());
    assert!(stage.path("/srv/etc/tierpace/tierpace.toml").is_file());
    assert!(stage.path("/srv/etc/tierpace/campaigns").is_dir());
    let unit = stage.read("/etc/systemd/system/tierpace.service");
    assert!(
        unit.contains(
            "\nExecStart=/opt/tierpace/bin/tierpace run --config /srv/etc/tierpace/tierpace.toml\n"
        ),
        "{unit}"
    );
    assert!(
        unit.contains("EnvironmentFile=-/srv/etc/tierpace/tierpace.env"),
        "{unit}"
    );
    assert!(!unit.contains("/usr/local/"), "{unit}");
    assert!(stage
        .path("/opt/tierpace/share/doc/tierpace/README.md")
        .is_file());
    assert!(
        !unit
            .replace("/srv/etc/tierpace/", "")
            .contains("/etc/tierpace/"),
        "every config path moved: {unit}"
    );
}

#[test]
fn a_missing_input_fails_before_anything_is_installed() {
    let stage = Stage::new("# cfg\n");
    let missing = stage.root.path().join("nope.toml");
    let out = stage.install(&[("CONFIG_SRC", missing.to_str().unwrap())]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CONFIG_SRC"), "{stderr}");
    assert!(
        !stage.destdir().exists(),
        "nothing staged after a failed check"
    );

    let out = stage.install(&[("BIN", "/nonexistent/tierpace")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("build it first"));
    assert!(!stage.destdir().exists());
}

#[test]
fn uninstall_removes_binary_and_unit_but_keeps_config() {
    let stage = Stage::new("# cfg\n");
    stage.install_ok(&[]);
    let mut cmd = Command::new("bash");
    let out = cmd
        .arg(repo().join("scripts/install.sh"))
        .arg("uninstall")
        .env("DESTDIR", stage.destdir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(!stage.path("/usr/local/bin/tierpace").exists());
    assert!(!stage.path("/etc/systemd/system/tierpace.service").exists());
    assert_eq!(stage.read("/etc/tierpace/tierpace.toml"), "# cfg\n");
}

#[test]
fn make_install_stages_the_same_layout() {
    if Command::new("make").arg("--version").output().is_err() {
        eprintln!("make is not installed: `make install` not exercised (install.sh is, above)");
        return;
    }
    let stage = Stage::new("# cfg via make\n");
    let out = Command::new("make")
        .arg("-C")
        .arg(repo())
        .arg("install")
        .arg(format!("DESTDIR={}", stage.destdir().display()))
        .arg(format!("BIN={}", stage.bin.display()))
        .env("CONFIG_SRC", &stage.config_src)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stage.path("/usr/local/bin/tierpace").is_file());
    assert!(stage.path("/etc/systemd/system/tierpace.service").is_file());
    assert_eq!(
        stage.read("/etc/tierpace/tierpace.toml"),
        "# cfg via make\n"
    );
}
