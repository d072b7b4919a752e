# SPDX-License-Identifier: MIT
#
# make build                       static release binary (musl)
# make install DESTDIR= PREFIX=    install everything (PREFIX defaults to /usr)
# make uninstall DESTDIR= PREFIX=  remove exactly what install put there
# make test                        every test CI runs (as root on Debian/Ubuntu)
# make test-deps                   the toolchain parts and tools the tests need
# make lint                        cargo fmt --check and clippy
# make check-packaging             man pages, shellcheck, install tree, prefix,
#                                  dist, deb, rpm, arch
# make check-boot                  real-kernel boot tests (root, QEMU; tests/boot/)
# make dist                        release tarball with vendored crates, and its
#                                  checksum, in target/dist/ (needs git, network
#                                  or a filled cargo cache)
#
# PREFIX moves the binary ($(PREFIX)/bin), the documentation, the man pages
# and the shell completions. It does not move the initramfs and systemd
# integration: dracut, mkinitcpio and systemd look in /usr/lib only, and
# initramfs-tools in /usr/share, whatever PREFIX is. Those hooks and units
# name the binary by its installed path: install writes them from their
# sources in hooks/ with @BINDIR@ replaced by $(BINDIR) (sed, straight into
# DESTDIR; the source tree is never written), and the images they build
# carry the binary at that same path. The generator link is relative.
# The policy stays /etc/ttm-autosize.toml whatever PREFIX is. It is
# installed from the annotated example only when absent; install never
# overwrites it and uninstall never removes it. No vendor default
# (/usr/lib/ttm-autosize.toml) is installed: it would equal the built-in one.
#
# uninstall removes every file install put there, and the directories only
# ttm-autosize uses (the dracut module, the doc directory). On a live system
# shared directories (man8, bash-completion, …) stay even when empty: make
# cannot know whether install created them. Under a DESTDIR (a staging
# tree) every directory left empty on an installed path is removed, up to
# DESTDIR itself.

PREFIX ?= /usr
DESTDIR ?=
TARGET ?= x86_64-unknown-linux-musl
CARGO ?= cargo
INSTALL ?= install

BINARY = target/$(TARGET)/release/ttm-autosize

# The version lives in Cargo.toml only (the [package] table's `version`).
VERSION := $(shell sed -n '/^\[package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)

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
# exactly these. TEMPLATES are installed with @BINDIR@ replaced. The
# generator link and the policy are handled on their own.
FILES = \
	$(BINDIR)/ttm-autosize:$(BINARY):0755 \
	$(DOCDIR)/ttm-autosize.toml.example:packaging/example/ttm-autosize.toml:0644 \
	$(MANDIR)/man8/ttm-autosize.8:man/ttm-autosize.8:0644 \
	$(MANDIR)/man5/ttm-autosize.toml.5:man/ttm-autosize.toml.5:0644 \
	$(BASHCOMPDIR)/ttm-autosize:completions/ttm-autosize.bash:0644 \
	$(ZSHCOMPDIR)/_ttm-autosize:completions/_ttm-autosize:0644 \
	$(FISHCOMPDIR)/ttm-autosize.fish:completions/ttm-autosize.fish:0644
TEMPLATES = \
	$(DRACUTDIR)/module-setup.sh:hooks/dracut/module-setup.sh:0755 \
	$(DRACUTDIR)/ttm-autosize-apply.sh:hooks/dracut/ttm-autosize-apply.sh:0755 \
	$(DRACUTDIR)/ttm-autosize.service:hooks/systemd/ttm-autosize.service:0644 \
	$(ITOOLSDIR)/hooks/ttm-autosize:hooks/initramfs-tools/hooks/ttm-autosize:0755 \
	$(ITOOLSDIR)/scripts/init-top/ttm-autosize:hooks/initramfs-tools/scripts/init-top/ttm-autosize:0755 \
	$(INITCPIODIR)/install/ttm-autosize:hooks/mkinitcpio/install/ttm-autosize:0644 \
	$(INITCPIODIR)/hooks/ttm-autosize:hooks/mkinitcpio/hooks/ttm-autosize:0644 \
	$(UNITDIR)/ttm-autosize.service:hooks/systemd/ttm-autosize.service:0644 \
	$(UNITDIR)/ttm-autosize-metrics.service:hooks/systemd/ttm-autosize-metrics.service:0644

# install_file PATH SOURCE MODE (one entry of FILES, split at the colons):
# one recipe line.
define install_file
$(INSTALL) -D -m $(word 3,$(1)) $(word 2,$(1)) $(DESTDIR)$(word 1,$(1))

endef

# install_template PATH SOURCE MODE (one entry of TEMPLATES): the source with
# @BINDIR@ filled in, renamed into place so a second install replaces the
# file rather than writing through it.
define install_template
$(INSTALL) -d -m 0755 $(DESTDIR)$(patsubst %/,%,$(dir $(word 1,$(1))))
sed -e 's|@BINDIR@|$(BINDIR)|g' $(word 2,$(1)) >$(DESTDIR)$(word 1,$(1)).new
chmod $(word 3,$(1)) $(DESTDIR)$(word 1,$(1)).new
mv -f $(DESTDIR)$(word 1,$(1)).new $(DESTDIR)$(word 1,$(1))

endef

GENERATOR = $(GENERATORDIR)/ttm-autosize-generator
# The generator link, relative: ../../../bin/ttm-autosize for PREFIX=/usr.
GENERATOR_LINK = $(shell realpath -s -m --relative-to=$(GENERATORDIR) $(BINDIR)/ttm-autosize)
INSTALLED = $(foreach f,$(FILES) $(TEMPLATES),$(word 1,$(subst :, ,$(f)))) $(GENERATOR)
# The directories of the installed paths, relative to DESTDIR.
INSTALLED_DIRS = $(sort $(patsubst /%,%,$(patsubst %/,%,$(dir $(INSTALLED)))))

.PHONY: all build install uninstall dist test test-deps lint check-packaging check-boot

all: build

build:
	$(CARGO) build --release --target $(TARGET)

# install does not depend on build, so `sudo make install` after
# `make build` never runs cargo as root.
install:
	@test -x $(BINARY) || { echo "$(BINARY) missing: run 'make build' first" >&2; exit 1; }
	$(foreach f,$(FILES),$(call install_file,$(subst :, ,$(f))))
	$(foreach f,$(TEMPLATES),$(call install_template,$(subst :, ,$(f))))
	$(INSTALL) -d -m 0755 $(DESTDIR)$(GENERATORDIR)
	ln -sfn $(GENERATOR_LINK) $(DESTDIR)$(GENERATOR)
	@if [ -e $(DESTDIR)$(POLICY) ] || [ -L $(DESTDIR)$(POLICY) ]; then \
		echo "$(DESTDIR)$(POLICY) exists: kept as it is"; \
	else \
		echo "$(INSTALL) -D -m 0644 packaging/example/ttm-autosize.toml $(DESTDIR)$(POLICY)"; \
		$(INSTALL) -D -m 0644 packaging/example/ttm-autosize.toml $(DESTDIR)$(POLICY); \
	fi

# See the header for which directories go.
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	rmdir $(DESTDIR)$(DRACUTDIR) $(DESTDIR)$(DOCDIR) 2>/dev/null || true
	@if [ -n "$(DESTDIR)" ] && [ "$(DESTDIR)" != / ]; then \
		cd $(DESTDIR) && for d in $(INSTALLED_DIRS); do \
			while [ "$$d" != . ] && [ ! -d "$$d" ]; do d=$$(dirname "$$d"); done; \
			[ "$$d" = . ] || rmdir -p --ignore-fail-on-non-empty "$$d"; \
		done; \
	fi

# The release tarball: the tracked files (git ls-files, as they are in the
# work tree), vendor/ from `cargo vendor --locked` and a .cargo/config.toml
# that points crates-io at it, so `cargo build --offline --frozen` needs no
# network. Reproducible: names sorted, every mtime SOURCE_DATE_EPOCH (the
# last commit's time unless set), owner and group 0, modes from the file's
# executable bit only, gzip -n. The checksum file is in sha256sum format:
# `cd target/dist && sha256sum -c ttm-autosize-VERSION.tar.gz.sha256`.
DISTNAME = ttm-autosize-$(VERSION)
DISTDIR  = target/dist
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null)

dist:
	@test -n "$(VERSION)" || { echo "no version in Cargo.toml's [package]" >&2; exit 1; }
	@test -n "$(SOURCE_DATE_EPOCH)" || { echo "make dist needs the git checkout (or SOURCE_DATE_EPOCH)" >&2; exit 1; }
	rm -rf $(DISTDIR)/$(DISTNAME) $(DISTDIR)/$(DISTNAME).tar*
	mkdir -p $(DISTDIR)/$(DISTNAME)/.cargo
	git ls-files -z >$(DISTDIR)/$(DISTNAME).files
	tar --create --no-recursion --null --files-from=$(DISTDIR)/$(DISTNAME).files \
		--file=$(DISTDIR)/$(DISTNAME).tree.tar
	tar --extract --file=$(DISTDIR)/$(DISTNAME).tree.tar --directory=$(DISTDIR)/$(DISTNAME)
	rm -f $(DISTDIR)/$(DISTNAME).files $(DISTDIR)/$(DISTNAME).tree.tar
	$(CARGO) vendor --quiet --locked --manifest-path $(DISTDIR)/$(DISTNAME)/Cargo.toml \
		$(DISTDIR)/$(DISTNAME)/vendor >/dev/null
	printf '%s\n' '# Written by make dist: build from vendor/, with no network.' \
		'[source.crates-io]' 'replace-with = "vendored-sources"' '' \
		'[source.vendored-sources]' 'directory = "vendor"' >$(DISTDIR)/$(DISTNAME)/.cargo/config.toml
	LC_ALL=C tar --create --directory=$(DISTDIR) --sort=name --format=posix \
		--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
		--mtime=@$(SOURCE_DATE_EPOCH) --owner=0 --group=0 --numeric-owner \
		--mode=u+rwX,go=rX --file=$(DISTDIR)/$(DISTNAME).tar $(DISTNAME)
	gzip -9 -n -f $(DISTDIR)/$(DISTNAME).tar
	cd $(DISTDIR) && sha256sum $(DISTNAME).tar.gz >$(DISTNAME).tar.gz.sha256
	rm -rf $(DISTDIR)/$(DISTNAME)
	@cat $(DISTDIR)/$(DISTNAME).tar.gz.sha256

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
