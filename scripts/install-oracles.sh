#!/usr/bin/env bash
# Installs the reference tools the tests compare against: GDAL (gdalinfo, gdal_translate, ogrinfo,
# gdal_polygonize.py) and Debian's python3 with numpy, GDAL bindings and scikit-learn; and libdeflate's headers,
# for the optional native DEFLATE binding `npm run build` compiles (without them s2change uses node:zlib); Chromium
# (the viewer's browser tests, driven by playwright-core) and redis-server (the batch queue's tests). Idempotent.
set -euo pipefail
if command -v gdalinfo >/dev/null 2>&1 && /usr/bin/python3 -c 'import osgeo, numpy, sklearn' >/dev/null 2>&1 \
  && [ -f /usr/include/libdeflate.h ] && command -v chromium >/dev/null 2>&1 && command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
  gdal-bin python3-gdal python3-numpy python3-sklearn python3-scipy libdeflate-dev \
  chromium redis-server >/dev/null
