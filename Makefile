# Build and install tierpace. Typical use:
#   make && sudo make install          # binary, systemd unit, /etc/tierpace (config kept if present)
#   make install DESTDIR=/tmp/stage    # stage into a directory (packaging, tests)
# Variables: PREFIX (/usr/local), SYSCONFDIR (/etc), UNITDIR (/etc/systemd/system), DESTDIR, BIN.
PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc
UNITDIR    ?= /etc/systemd/system
DESTDIR    ?=
CARGO      ?= cargo
BIN        ?= target/release/tierpace

INSTALL_ENV = DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" SYSCONFDIR="$(SYSCONFDIR)" \
              UNITDIR="$(UNITDIR)" BIN="$(BIN)"

.PHONY: all build install uninstall check-systemd test

all: build

build:
	$(CARGO) build --release --locked

# Builds only when the binary is missing, so `sudo make install` after `make` needs no cargo.
$(BIN):
	$(CARGO) build --release --locked

install: $(BIN)
	$(INSTALL_ENV) bash scripts/install.sh install

uninstall:
	$(INSTALL_ENV) bash scripts/install.sh uninstall

check-systemd:
	bash scripts/check-systemd.sh

test:
	bash scripts/test.sh
