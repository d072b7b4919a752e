# SPDX-License-Identifier: MIT
#
# make build                       static release binary (musl)
# make install DESTDIR= PREFIX=    install everything (PREFIX defaults to /usr)
# make uninstall DESTDIR= PREFIX=  remove exactly what install put there
# make check-boot                  real-kernel boot tests (root, QEMU; see tests/boot/)
#
# The binary goes to $(PREFIX)/bin. dracut, mkinitcpio and systemd look in
# /usr/lib only, and initramfs-tools in /usr/share, whatever PREFIX is, so
# those paths are fixed. The annotated example policy goes to the
# documentation directory; an existing /etc/ttm-autosize.toml is never
# overwritten or removed (see install-etc below).

PREFIX ?= /usr
DESTDIR ?=
TARGET ?= x86_64-unknown-linux-musl
CARGO ?= cargo

BINDIR       = $(PREFIX)/bin
DOCDIR       = $(PREFIX)/share/doc/ttm-autosize
DRACUTDIR    = /usr/lib/dracut/modules.d/90ttm-autosize
ITOOLSDIR    = /usr/share/initramfs-tools
INITCPIODIR  = /usr/lib/initcpio
GENERATORDIR = /usr/lib/systemd/system-generators
UNITDIR      = /usr/lib/systemd/system

BINARY = target/$(TARGET)/release/ttm-autosize

INSTALL ?= install

# Every installed path, relative to DESTDIR; uninstall removes exactly these.
INSTALLED = \
	$(BINDIR)/ttm-autosize \
	$(DRACUTDIR)/module-setup.sh \
	$(DRACUTDIR)/ttm-autosize-apply.sh \
	$(DRACUTDIR)/ttm-autosize.service \
	$(ITOOLSDIR)/hooks/ttm-autosize \
	$(ITOOLSDIR)/scripts/init-top/ttm-autosize \
	$(INITCPIODIR)/install/ttm-autosize \
	$(INITCPIODIR)/hooks/ttm-autosize \
	$(GENERATORDIR)/ttm-autosize-generator \
	$(UNITDIR)/ttm-autosize.service \
	$(UNITDIR)/ttm-autosize-metrics.service \
	$(DOCDIR)/ttm-autosize.toml.example

.PHONY: all build install uninstall check-boot

all: build

build:
	$(CARGO) build --release --target $(TARGET)

# install does not depend on build, so `sudo make install` after
# `make build` never runs cargo as root.
install:
	@test -x $(BINARY) || { echo "$(BINARY) missing: run 'make build' first" >&2; exit 1; }
	$(INSTALL) -D -m 0755 $(BINARY) $(DESTDIR)$(BINDIR)/ttm-autosize
	$(INSTALL) -D -m 0755 dracut/90ttm-autosize/module-setup.sh $(DESTDIR)$(DRACUTDIR)/module-setup.sh
	$(INSTALL) -D -m 0755 dracut/90ttm-autosize/ttm-autosize-apply.sh $(DESTDIR)$(DRACUTDIR)/ttm-autosize-apply.sh
	$(INSTALL) -D -m 0644 hooks/systemd/ttm-autosize.service $(DESTDIR)$(DRACUTDIR)/ttm-autosize.service
	$(INSTALL) -D -m 0755 hooks/initramfs-tools/hooks/ttm-autosize $(DESTDIR)$(ITOOLSDIR)/hooks/ttm-autosize
	$(INSTALL) -D -m 0755 hooks/initramfs-tools/scripts/init-top/ttm-autosize $(DESTDIR)$(ITOOLSDIR)/scripts/init-top/ttm-autosize
	$(INSTALL) -D -m 0644 mkinitcpio/install/ttm-autosize $(DESTDIR)$(INITCPIODIR)/install/ttm-autosize
	$(INSTALL) -D -m 0644 mkinitcpio/hooks/ttm-autosize $(DESTDIR)$(INITCPIODIR)/hooks/ttm-autosize
	$(INSTALL) -D -m 0644 hooks/systemd/ttm-autosize.service $(DESTDIR)$(UNITDIR)/ttm-autosize.service
	$(INSTALL) -D -m 0644 hooks/systemd/ttm-autosize-metrics.service $(DESTDIR)$(UNITDIR)/ttm-autosize-metrics.service
	$(INSTALL) -d -m 0755 $(DESTDIR)$(GENERATORDIR)
	ln -sfn $(BINDIR)/ttm-autosize $(DESTDIR)$(GENERATORDIR)/ttm-autosize-generator
	$(INSTALL) -D -m 0644 packaging/example/ttm-autosize.toml $(DESTDIR)$(DOCDIR)/ttm-autosize.toml.example

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	rmdir $(DESTDIR)$(DRACUTDIR) $(DESTDIR)$(DOCDIR) 2>/dev/null || true

check-boot:
	tests/boot/setup
	tests/boot/run

# The README's test command: everything CI checks. The fuzz smoke needs the nightly
# toolchain (it installs cargo-fuzz). The packaging and boot tests need root
# on Debian/Ubuntu; as root there, the boot prerequisites are installed first
# (tests/boot/setup, idempotent); otherwise those tests fail naming what is missing.
.PHONY: test test-deps lint check-packaging
# What the tests need beyond a rustup toolchain: the static target, the linters, and the
# Prometheus parser the metrics test uses.
test-deps:
	rustup component add rustfmt clippy
	rustup target add $(TARGET)
	python3 -c 'import prometheus_client' 2>/dev/null || pip install --quiet prometheus_client

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

test: test-deps lint
	cargo test
	tests/fuzz-smoke
	$(MAKE) check-packaging
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then tests/boot/setup; fi
	tests/boot/run

check-packaging: build
	tests/packaging/run

# Man pages and the policy in /etc. Extra prerequisites
# of install/uninstall; the targets above are unchanged. The policy path is
# fixed (the binary reads /etc/ttm-autosize.toml whatever PREFIX is); it is
# installed from the example only when absent, and uninstall never removes it.
MANDIR     = $(PREFIX)/share/man
POLICY     = /etc/ttm-autosize.toml
MANPAGES   = $(MANDIR)/man8/ttm-autosize.8 $(MANDIR)/man5/ttm-autosize.toml.5

.PHONY: install-man install-etc uninstall-man
install: install-man install-etc
uninstall: uninstall-man

install-man:
	$(INSTALL) -D -m 0644 man/ttm-autosize.8 $(DESTDIR)$(MANDIR)/man8/ttm-autosize.8
	$(INSTALL) -D -m 0644 man/ttm-autosize.toml.5 $(DESTDIR)$(MANDIR)/man5/ttm-autosize.toml.5

install-etc:
	@if [ -e $(DESTDIR)$(POLICY) ] || [ -L $(DESTDIR)$(POLICY) ]; then \
		echo "$(DESTDIR)$(POLICY) exists: kept as it is"; \
	else \
		echo "$(INSTALL) -D -m 0644 packaging/example/ttm-autosize.toml $(DESTDIR)$(POLICY)"; \
		$(INSTALL) -D -m 0644 packaging/example/ttm-autosize.toml $(DESTDIR)$(POLICY); \
	fi

uninstall-man:
	rm -f $(addprefix $(DESTDIR),$(MANPAGES))
