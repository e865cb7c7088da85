#!/usr/bin/env bash
# Draw docs/assets/look.png, the picture on the front page and the docs' home: `zoomhard look`
# on the bundled rocket photo placed off centre (as in samples-offcentre), with EfficientNet-Lite0.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$python" -c "from zoomhard.data.samples import offcentre_png; import sys; open(sys.argv[1], 'wb').write(offcentre_png('rocket.jpg'))" "$tmp/rocket-offcentre.png"
"$python" -m zoomhard.cli look "$tmp/rocket-offcentre.png" -m lite0 --label "missile,projectile,space shuttle" --out docs/assets/look.png
