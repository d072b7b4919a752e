# SPDX-License-Identifier: MIT
#
# make build                       static release binary (musl)
# make install DESTDIR= PREFIX=    install everything (PREFIX defaults to /usr)
# make uninstall DESTDIR= PREFIX=  remove exactly what install put there
# make test                        every test CI runs (as root on Debian/Ubuntu)
# make test-deps                   the toolchain parts and tools the tests need
# make lint                        cargo fmt --check and clippy
# make check-packaging             man pages, shellcheck, install tree, deb, rpm, arch
# make check-boot                  real-kernel boot tests (root, QEMU; tests/boot/)
#
# The binary, documentation, man pages and shell completions follow PREFIX.
# dracut, mkinitcpio and systemd look in /usr/lib only, and initramfs-tools
# in /usr/share, whatever PREFIX is, so those paths are fixed. So is the
# policy: the binary reads /etc/ttm-autosize.toml whatever PREFIX is. It is
# installed from the annotated example only when absent; install never
# overwrites it and uninstall never removes it.

PREFIX ?= /usr
DESTDIR ?=
TARGET ?= x86_64-unknown-linux-musl
CARGO ?= cargo
INSTALL ?= install

BINARY = target/$(TARGET)/release/ttm-autosize

BINDIR       = $(PREFIX)/bin
DOCDIR       = $(PREFIX)/share/doc/ttm-autosize
MANDIR       = $(PREFIX)/share/man
BASHCOMPDIR  = $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR   = $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR  = $(PREFIX)/share/fish/vendor_completions.d
DRACUTDIR    = /usr/lib/dracut/modules.d/90ttm-autosize
ITOOLSDIR    = /usr/share/initramfs-tools
INITCPIODIR  = /usr/lib/initcpio
GENERATORDIR = /usr/lib/systemd/system-generators
UNITDIR      = /usr/lib/systemd/system
POLICY       = /etc/ttm-autosize.toml

# Every installed path (relative to DESTDIR) with its source and mode, one
# `path:source:mode` entry each; install installs these, uninstall removes
# exactly these. The generator link and the policy are handled on their own.
FILES = \
	$(BINDIR)/ttm-autosize:$(BINARY):0755 \
	$(DRACUTDIR)/module-setup.sh:hooks/dracut/module-setup.sh:0755 \
	$(DRACUTDIR)/ttm-autosize-apply.sh:hooks/dracut/ttm-autosize-apply.sh:0755 \
	$(DRACUTDIR)/ttm-autosize.service:hooks/systemd/ttm-autosize.service:0644 \
	$(ITOOLSDIR)/hooks/ttm-autosize:hooks/initramfs-tools/hooks/ttm-autosize:0755 \
	$(ITOOLSDIR)/scripts/init-top/ttm-autosize:hooks/initramfs-tools/scripts/init-top/ttm-autosize:0755 \
	$(INITCPIODIR)/install/ttm-autosize:hooks/mkinitcpio/install/ttm-autosize:0644 \
	$(INITCPIODIR)/hooks/ttm-autosize:hooks/mkinitcpio/hooks/ttm-autosize:0644 \
	$(UNITDIR)/ttm-autosize.service:hooks/systemd/ttm-autosize.service:0644 \
	$(UNITDIR)/ttm-autosize-metrics.service:hooks/systemd/ttm-autosize-metrics.service:0644 \
	$(DOCDIR)/ttm-autosize.toml.example:packaging/example/ttm-autosize.toml:0644 \
	$(MANDIR)/man8/ttm-autosize.8:man/ttm-autosize.8:0644 \
	$(MANDIR)/man5/ttm-autosize.toml.5:man/ttm-autosize.toml.5:0644 \
	$(BASHCOMPDIR)/ttm-autosize:completions/ttm-autosize.bash:0644 \
	$(ZSHCOMPDIR)/_ttm-autosize:completions/_ttm-autosize:0644 \
	$(FISHCOMPDIR)/ttm-autosize.fish:completions/ttm-autosize.fish:0644

# install_file PATH SOURCE MODE (one entry of FILES, split at the colons):
# one recipe line.
define install_file
$(INSTALL) -D -m $(word 3,$(1)) $(word 2,$(1)) $(DESTDIR)$(word 1,$(1))

endef

GENERATOR = $(GENERATORDIR)/ttm-autosize-generator
INSTALLED = $(foreach f,$(FILES),$(word 1,$(subst :, ,$(f)))) $(GENERATOR)

.PHONY: all build install uninstall test test-deps lint check-packaging check-boot

all: build

build:
	$(CARGO) build --release --target $(TARGET)

# install does not depend on build, so `sudo make install` after
# `make build` never runs cargo as root.
install:
	@test -x $(BINARY) || { echo "$(BINARY) missing: run 'make build' first" >&2; exit 1; }
	$(foreach f,$(FILES),$(call install_file,$(subst :, ,$(f))))
	$(INSTALL) -d -m 0755 $(DESTDIR)$(GENERATORDIR)
	ln -sfn $(BINDIR)/ttm-autosize $(DESTDIR)$(GENERATOR)
	@if [ -e $(DESTDIR)$(POLICY) ] || [ -L $(DESTDIR)$(POLICY) ]; then \
		echo "$(DESTDIR)$(POLICY) exists: kept as it is"; \
	else \
		echo "$(INSTALL) -D -m 0644 packaging/example/ttm-autosize.toml $(DESTDIR)$(POLICY)"; \
		$(INSTALL) -D -m 0644 packaging/example/ttm-autosize.toml $(DESTDIR)$(POLICY); \
	fi

# The directories that only ttm-autosize's files live in go too; shared ones
# (man8, bash-completion…) stay.
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	rmdir $(DESTDIR)$(DRACUTDIR) $(DESTDIR)$(DOCDIR) 2>/dev/null || true

# The README's test command: everything CI runs. The fuzz smoke needs the
# nightly toolchain (it installs cargo-fuzz). The packaging and boot tests
# need root on Debian/Ubuntu; as root there, the boot prerequisites are
# installed first (tests/boot/setup, idempotent); otherwise those tests fail
# naming what is missing.
test: test-deps lint
	cargo test
	tests/fuzz-smoke
	$(MAKE) check-packaging
	tests/fleet/run
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then tests/boot/setup; fi
	tests/boot/run

# What the tests need beyond a rustup toolchain: the static target, the
# linters, and the Prometheus parser the metrics test uses. (The packaging
# tests install their Debian packages themselves, as root.)
test-deps:
	rustup component add rustfmt clippy
	rustup target add $(TARGET)
	python3 -c 'import prometheus_client' 2>/dev/null || pip install --quiet prometheus_client

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

check-packaging: build
	tests/packaging/run

check-boot:
	tests/boot/setup
	tests/boot/run
