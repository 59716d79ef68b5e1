#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain. Idempotent; safe to re-run.
# - coturn (Debian package): the TURN relay used by peer's relay-only test.
# - a Python virtualenv in target/pyenv with aiortc: the interop peer used by peer's tests.
# - fontconfig headers, pkg-config and a font (DejaVu): plotters (bench_report's PNG plots)
#   links fontconfig at build time and renders text with a system font.
# - Xvfb, Mesa and the X libraries miniquad loads at run time: the fighter window's tests.
# - redis-server: the signal cluster tests start their own instances on free ports.
# - iptables and iproute2: fault-injection tests, run only inside a network namespace that
#   the test creates itself (`unshare -n`).
# Fails loudly when something cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need_apt=()
command -v turnserver >/dev/null 2>&1 || need_apt+=(coturn)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-venv)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
dpkg-query -W -f='${Status}' libfontconfig1-dev 2>/dev/null | grep -q "ok installed" || need_apt+=(libfontconfig1-dev)
dpkg-query -W -f='${Status}' fonts-dejavu-core 2>/dev/null | grep -q "ok installed" || need_apt+=(fonts-dejavu-core)
for pkg in xvfb xauth libgl1 libgl1-mesa-dri libx11-6 libxi6 libxkbcommon0 redis-server iptables iproute2 util-linux; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi
# coturn's package may start a system service; the tests start their own instance.
command -v turnserver >/dev/null 2>&1 || { echo "setup: turnserver (coturn) is missing after install" >&2; exit 1; }
# redis-server's package may start a system service on 6379; the tests never use it.
for cmd in xvfb-run Xvfb redis-server iptables unshare ip; do
  command -v "$cmd" >/dev/null 2>&1 || { echo "setup: $cmd is missing after install" >&2; exit 1; }
done

PYENV=target/pyenv
if [ ! -x "$PYENV/bin/python" ] || ! "$PYENV/bin/python" -c 'import aiortc' 2>/dev/null; then
  echo "setup: creating $PYENV with aiortc"
  python3 -m venv "$PYENV"
  "$PYENV/bin/pip" install -q --disable-pip-version-check -r scripts/requirements.txt
fi
"$PYENV/bin/python" -c 'import aiortc, websockets' || { echo "setup: aiortc/websockets missing in $PYENV" >&2; exit 1; }
echo "setup: ok"
