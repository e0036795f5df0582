#!/usr/bin/env bash
# setup.sh DIR: fetch what the Silero evaluation needs from the npm registry
# into DIR, and print the two environment variables the package reads.
#
#   eval "$(bash media/vad/silero/setup.sh /tmp/silero)"
#
# It takes the package tarballs with `npm pack`, which downloads a tarball
# and nothing else: no install script runs (onnxruntime-node's tries to
# download CUDA) and no dependency comes along (vad-web's onnxruntime-web).
#   - onnxruntime-node 1.30.0 (MIT): bin/napi-v6/linux/<arch>/libonnxruntime.so.1,
#     the ONNX Runtime C library, about 45 MB (113 MB tarball for every OS);
#   - @ricky0123/vad-web 0.0.31 (ISC): dist/silero_vad_v5.onnx, Silero VAD v5
#     (MIT, snakers4/silero-vad), 2.3 MB; dist/silero_vad_v6.onnx also.
# Messages go to stderr; stdout holds only the export lines.
set -euo pipefail

dir=${1:?usage: setup.sh DIR}
ort_version=1.30.0
vad_version=0.0.31
model_sha256=2623a2953f6ff3d2c1e61740c6cdb7168133479b267dfef114a4a3cc5bdd788f

case $(uname -m) in
x86_64) arch=x64 ;;
aarch64 | arm64) arch=arm64 ;;
*) echo "setup.sh: no libonnxruntime.so in onnxruntime-node for $(uname -m)" >&2; exit 1 ;;
esac

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
lib=$dir/onnxruntime-node/bin/napi-v6/linux/$arch/libonnxruntime.so.1
model=$dir/vad-web/dist/silero_vad_v5.onnx

# fetch PKG@VERSION NAME FILE...: unpack FILEs of the package's tarball
# into DIR/NAME.
fetch() {
	local spec=$1 name=$2
	shift 2
	local tmp
	tmp=$(mktemp -d "$dir/.pack.XXXXXX")
	(cd "$tmp" && npm pack --silent "$spec" >/dev/null)
	mkdir -p "$dir/$name"
	tar -xzf "$tmp"/*.tgz -C "$dir/$name" --strip-components=1 "${@/#/package/}"
	rm -rf "$tmp"
}

if [[ ! -f $lib ]]; then
	echo "setup.sh: fetching onnxruntime-node@$ort_version (113 MB)" >&2
	fetch "onnxruntime-node@$ort_version" onnxruntime-node package.json "bin/napi-v6/linux/$arch/libonnxruntime.so.1"
fi
if [[ ! -f $model ]]; then
	echo "setup.sh: fetching @ricky0123/vad-web@$vad_version" >&2
	fetch "@ricky0123/vad-web@$vad_version" vad-web package.json dist/silero_vad_v5.onnx dist/silero_vad_v6.onnx
fi
echo "$model_sha256  $model" | sha256sum -c --quiet - >&2

echo "export IACE_ORT_LIB=$lib"
echo "export IACE_SILERO_MODEL=$model"
