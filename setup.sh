#!/usr/bin/env bash
# Creates ./.venv and installs rt-edge into it (idempotent). `./setup.sh dev` adds test tools.
# torch==2.13.0 is pinned: on these machines pip takes the local CPU build.
set -euo pipefail
cd "$(dirname "$0")"
extras="torch,video,onnx"
[ "${1:-}" = "dev" ] && extras="torch,video,onnx,dev"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check torch==2.13.0
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[${extras}]"
