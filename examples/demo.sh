#!/usr/bin/env bash
# The real-data demo. It grows as the pipeline lands; today it shows the commands that exist.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
$BIN/tinybert --help
