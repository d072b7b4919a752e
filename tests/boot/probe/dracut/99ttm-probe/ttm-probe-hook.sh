#!/bin/sh
# SPDX-License-Identifier: MIT
# Sourced by dracut's initqueue: run the probe in its own shell, unless
# ttmprobe=0 says this boot goes on to a root file system whose own probe
# reports (initrd-then-host, stale-policy).
case " $(cat /proc/cmdline) " in
*" ttmprobe=0 "*) ;;
*) /bin/sh /usr/libexec/ttm-probe ;;
esac
