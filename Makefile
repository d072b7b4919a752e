# SPDX-License-Identifier: MIT
#
# make build                       static release binary (musl)
# make install DESTDIR= PREFIX=    install everything (PREFIX defaults to /usr)
# make uninstall DESTDIR= PREFIX=  remove exactly what install put there
# make check-boot                  real-kernel boot tests (root, QEMU; see tests/boot/)
#
# The binary goes to $(PREFIX)/bin. dracut, mkinitcpio and systemd look in
# /usr/lib only, and initramfs-tools in /usr/share, whatever PREFIX is, so
# those paths are fixed. /etc/ttm-autosize.toml is never touched: the
# annotated example goes to the documentation directory.

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
	$(INSTALL) -d -m 0755 $(DESTDIR)$(GENERATORDIR)
	ln -sfn $(BINDIR)/ttm-autosize $(DESTDIR)$(GENERATORDIR)/ttm-autosize-generator
	$(INSTALL) -D -m 0644 packaging/example/ttm-autosize.toml $(DESTDIR)$(DOCDIR)/ttm-autosize.toml.example

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	rmdir $(DESTDIR)$(DRACUTDIR) $(DESTDIR)$(DOCDIR) 2>/dev/null || true

check-boot:
	tests/boot/setup
	tests/boot/run

# The README's test command: everything CI checks.
.PHONY: test lint
lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

test: lint
	cargo test
