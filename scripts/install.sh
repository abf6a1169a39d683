#!/usr/bin/env bash
# Installs tierpace for systemd: the binary, the unit, the config (only if there is none yet), an
# empty campaigns directory and a credentials directory. Safe to run again to upgrade: the binary
# and the unit are replaced; the config, the environment file, campaigns and credentials are
# never overwritten.
#
#   scripts/install.sh [install|uninstall]
#
# Variables (all optional):
#   DESTDIR     staging root, prepended to every path (packaging, tests)       default: none
#   PREFIX      where the binary and docs go ($PREFIX/bin, $PREFIX/share/doc)  default: /usr/local
#   SYSCONFDIR  where tierpace/ (config, campaigns, credentials) goes          default: /etc
#   UNITDIR     where tierpace.service goes                                    default: /etc/systemd/system
#   BIN         the binary to install                                          default: target/release/tierpace
#   CONFIG_SRC  the config installed when none exists                          default: config/tierpace.toml
# The installed unit names the real paths ($PREFIX/bin/tierpace, $SYSCONFDIR/tierpace/...), not
# the DESTDIR ones.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"

action="${1:-install}"
DESTDIR="${DESTDIR:-}"
PREFIX="${PREFIX:-/usr/local}"
SYSCONFDIR="${SYSCONFDIR:-/etc}"
UNITDIR="${UNITDIR:-/etc/systemd/system}"
BIN="${BIN:-$repo/target/release/tierpace}"
CONFIG_SRC="${CONFIG_SRC:-$repo/config/tierpace.toml}"

bindir="$PREFIX/bin"
docdir="$PREFIX/share/doc/tierpace"
confdir="$SYSCONFDIR/tierpace"

say() { echo "install: $*"; }
die() { echo "install: error: $*" >&2; exit 1; }

if [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
  die "installing into / needs root: run with sudo, or set DESTDIR to stage into a directory"
fi

reload_systemd() {
  # Only on the live system, and only when systemd runs (not in a container or a chroot).
  if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload
  fi
}

case "$action" in
  install) ;;
  uninstall)
    rm -f "$DESTDIR$bindir/tierpace" "$DESTDIR$UNITDIR/tierpace.service"
    rm -rf "$DESTDIR$docdir"
    reload_systemd
    say "removed the binary, the unit and the docs; kept $confdir and /var/lib/tierpace"
    exit 0
    ;;
  *) die "unknown action '$action' (install or uninstall)" ;;
esac

# Check every input before touching anything, so a failed run leaves nothing half-installed.
[ -x "$BIN" ] || die "no binary at $BIN: build it first (make, or cargo build --release --locked), or set BIN"
[ -f "$CONFIG_SRC" ] || die "no config to install at $CONFIG_SRC: set CONFIG_SRC"
for f in tierpace.service tierpace.env.example override.conf.example; do
  [ -f "$repo/systemd/$f" ] || die "missing $repo/systemd/$f"
done

install -d -m 0755 "$DESTDIR$bindir" "$DESTDIR$UNITDIR" "$DESTDIR$docdir" "$DESTDIR$confdir"
# Campaign files are read by the service's throwaway user, so world-readable; keys are not:
# credentials/ is read by systemd (root) only and handed over through LoadCredential=.
install -d -m 0755 "$DESTDIR$confdir/campaigns"
install -d -m 0700 "$DESTDIR$confdir/credentials"

install -m 0755 "$BIN" "$DESTDIR$bindir/tierpace.new"
mv -f "$DESTDIR$bindir/tierpace.new" "$DESTDIR$bindir/tierpace" # atomic: a running daemon keeps its file
say "binary   -> $DESTDIR$bindir/tierpace"

# The unit ships with the default paths; point it at the ones chosen here.
sed -e "s#/usr/local/bin/tierpace#$bindir/tierpace#g" \
    -e "s#/usr/local/share/doc/tierpace#$docdir#g" \
    -e "s#/etc/tierpace/#$confdir/#g" \
    "$repo/systemd/tierpace.service" >"$DESTDIR$UNITDIR/tierpace.service.new"
chmod 0644 "$DESTDIR$UNITDIR/tierpace.service.new"
mv -f "$DESTDIR$UNITDIR/tierpace.service.new" "$DESTDIR$UNITDIR/tierpace.service"
say "unit     -> $DESTDIR$UNITDIR/tierpace.service"

install -m 0644 "$repo/systemd/override.conf.example" "$repo/systemd/tierpace.env.example" "$DESTDIR$docdir/"
if [ -f "$repo/README.md" ]; then install -m 0644 "$repo/README.md" "$DESTDIR$docdir/"; fi

install_once() { # install_once SRC DEST MODE: never replaces an existing file
  if [ -e "$2" ]; then
    say "kept     $2 (exists; the shipped version is in $DESTDIR$docdir)"
  else
    install -m "$3" "$1" "$2"
    say "new      $2"
  fi
}
install -m 0644 "$CONFIG_SRC" "$DESTDIR$docdir/tierpace.toml.example"
install_once "$CONFIG_SRC" "$DESTDIR$confdir/tierpace.toml" 0644
# May come to hold a key (TIERPACE__... or an api_key_env variable): root-only.
install_once "$repo/systemd/tierpace.env.example" "$DESTDIR$confdir/tierpace.env" 0600
say "campaigns dir: $DESTDIR$confdir/campaigns"

reload_systemd
cat <<NEXT
install: done. Next:
  $bindir/tierpace check --config $confdir/tierpace.toml
  systemctl enable --now tierpace
  journalctl -u tierpace -f -o cat
NEXT
