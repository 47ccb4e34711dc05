#!/bin/sh
# Builds the browser demo with esbuild into OUTDIR (default: web/demo/dist,
# which is committed and embedded into cmd/server by package web): one
# minified app.js (the demo and the SDK from web/sdk/src, bundled), one
# app.css and index.html. No CDN, no source maps. esbuild's output is
# deterministic, so web/embed_test.go runs this script into a temporary
# directory and fails when the committed bundle differs.
#
#   sh web/demo/build.sh [OUTDIR]      (make web)
set -eu
cd "$(dirname "$0")/.."
out=${1:-demo/dist}
exec node_modules/.bin/esbuild demo/src/app.ts demo/src/index.html \
	--bundle --minify --format=iife --target=es2020 \
	--loader:.html=copy --entry-names='[name]' --charset=utf8 \
	--legal-comments=none --log-level=warning \
	--outdir="$out"
