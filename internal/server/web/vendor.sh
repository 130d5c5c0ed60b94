#!/usr/bin/env bash
# Refreshes the vendored browser libraries under static/vendor from the npm registry.
# The binary never loads anything from a CDN (provincial networks are offline): what the
# web workplace needs is committed here and embedded with go:embed. Building needs only Go;
# this script is for the maintainer who moves a version, and needs npm and tar.
#   bash internal/server/web/vendor.sh            # the pinned version
#   ECHARTS=5.6.0 bash internal/server/web/vendor.sh
set -euo pipefail
cd "$(dirname "$0")"
ECHARTS="${ECHARTS:-5.6.0}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "echarts@$ECHARTS" >/dev/null && tar xzf "echarts-$ECHARTS.tgz")
cp "$tmp/package/dist/echarts.min.js" static/vendor/echarts.min.js
cp "$tmp/package/LICENSE" static/vendor/ECHARTS-LICENSE
cp "$tmp/package/NOTICE" static/vendor/ECHARTS-NOTICE
echo "echarts $ECHARTS" > static/vendor/VERSIONS
sha256sum static/vendor/echarts.min.js
