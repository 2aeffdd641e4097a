#!/usr/bin/env bash
# Video for `make demo`: Playwright records with its own ffmpeg build, which `playwright install ffmpeg` downloads
# from a CDN. Where that is unreachable (machines that only reach package registries), Debian's ffmpeg does the
# same job (VP8 in WebM) and is linked where Playwright looks for its own.
set -euo pipefail
PY="$(dirname "$0")/../.venv/bin/python"
rev=$("$PY" - <<'PY'
import json, pathlib, playwright
data = json.loads((pathlib.Path(playwright.__file__).parent / 'driver/package/browsers.json').read_text())
print(next(b['revision'] for b in data['browsers'] if b['name'] == 'ffmpeg'))
PY
)
target="${PLAYWRIGHT_BROWSERS_PATH:-$HOME/.cache/ms-playwright}/ffmpeg-$rev/ffmpeg-linux"
if [ -x "$target" ]; then exit 0; fi
if timeout 120 "$PY" -m playwright install ffmpeg >/dev/null 2>&1 && [ -x "$target" ]; then exit 0; fi
if ! command -v ffmpeg >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends ffmpeg >/dev/null
  else
    echo "make demo: no ffmpeg for the video; install ffmpeg or run 'playwright install ffmpeg'" >&2
    exit 1
  fi
fi
mkdir -p "$(dirname "$target")"
ln -sf "$(command -v ffmpeg)" "$target"
