#!/bin/sh
# SPDX-License-Identifier: MIT
# Sourced by dracut's initqueue: run the probe in its own shell.
/bin/sh /usr/libexec/ttm-probe
