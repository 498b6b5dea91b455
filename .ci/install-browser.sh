#!/usr/bin/env bash
# Install Debian's Chromium for tests/test_browser.py when it is missing.
#
# Idempotent and quick when /usr/bin/chromium exists. Never fails the build:
# without apt-get or root rights it says why and exits 0, and the browser tests
# then skip with that reason. Playwright's own browser download is never used.
set -u
BROWSER=/usr/bin/chromium
if [ -x "$BROWSER" ]; then
    exit 0
fi
say() { echo "install-browser: $*; tests/test_browser.py will be skipped" >&2; }
if ! command -v apt-get >/dev/null 2>&1; then
    say "no apt-get on this machine to install Debian's chromium"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        say "installing chromium needs root (run: sudo apt-get install chromium)"
        exit 0
    fi
fi
echo "install-browser: installing Debian's chromium (apt-get)..." >&2
export DEBIAN_FRONTEND=noninteractive
if timeout 600 $SUDO apt-get update -qq >/dev/null \
    && timeout 900 $SUDO apt-get install -y -qq chromium >/dev/null; then
    echo "install-browser: $("$BROWSER" --version 2>/dev/null | head -1)" >&2
else
    say "apt-get could not install chromium"
fi
exit 0
