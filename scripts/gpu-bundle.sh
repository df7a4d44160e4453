#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh needs on a GPU machine that has no Node and reaches no registry:
# this machine's Node binary, a trimmed node_modules (production dependencies for linux-x64 only,
# plus tsx/esbuild to run the TypeScript sources, without source maps, browser bundles and other
# platforms' binaries), the Vulkan loader (libvulkan.so.1: CUDA images often lack it) and, with
# --native, tfkd's native add-on with the shared libraries it links (OpenBLAS, oneDNN, …; about
# 20 MB more, compressed), so the CPU side of the training comparison is the native kernels.
# One xz tarball, under the 64 MiB that may travel with a checkout:
#
#   scripts/gpu-bundle.sh [--native] [OUT]     (default OUT: .gpu-bundle/bundle.tar.xz, git-ignored)
#
# On the GPU machine, in a copy of the checkout holding OUT: scripts/gpu-check.sh unpacks it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
native=0
if [[ ${1:-} == --native ]]; then native=1; shift; fi
out=${1:-$root/.gpu-bundle/bundle.tar.xz}
cd "$root"
[[ $(uname -m) == x86_64 ]] || { echo "gpu-bundle: builds a linux-x64 bundle; this is $(uname -m)" >&2; exit 2; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/b/node/bin" "$stage/b/node_modules"
cp "$(command -v node)" "$stage/b/node/bin/node"

# Package folders: every production dependency, tsx and what tsx needs.
{
  npm ls --omit=dev --all --parseable 2>/dev/null || true  # exits 1 over an extraneous package; the list is still whole
  npm ls tsx --all --parseable 2>/dev/null || true
  for p in tsx esbuild @esbuild/linux-x64 get-tsconfig resolve-pkg-maps; do if [[ -d node_modules/$p ]]; then echo "$root/node_modules/$p"; fi; done
} | grep "^$root/node_modules/" | sort -u | while read -r dir; do
  rel=${dir#"$root"/}
  mkdir -p "$stage/b/$(dirname "$rel")"
  [[ -e "$stage/b/$rel" ]] || cp -a "$dir" "$stage/b/$rel"
done

nm=$stage/b/node_modules
# Other platforms' binaries and what Node never loads.
rm -rf "$nm"/onnxruntime-node/bin/napi-v*/{darwin,win32} "$nm"/onnxruntime-node/bin/napi-v*/linux/arm64
rm -rf "$nm"/webgpu/dist/{darwin-universal,linux-arm64,win32-arm64,win32-x64}
rm -rf "$nm"/@tensorflow/tfjs/dist/miniprogram
find "$nm" \( -name '*.map' -o -name '*.min.js' -o -name '*.es2017.js' -o -name '*.fesm.js' -o -name '*.esm.js' -o -name '*.md' -o -name '*.d.ts' \) -type f -delete
# tfjs: Node loads each package's self-contained CommonJS bundle (dist/*.node.js, `main`); the ESM
# trees, browser bundles and sources beside it are for bundlers. wasm-out/ holds the wasm binaries.
for pkg in "$nm"/@tensorflow/*/; do
  find "$pkg/dist" -type f ! -name '*.node.js' ! -name '*.wasm' -delete
  find "$pkg/dist" -type d -empty -delete
  rm -rf "$pkg/src"
done

if ((native)) && [[ -f native/build/Release/tfkd_native.node ]]; then
  mkdir -p "$stage/b/native/build/Release" "$stage/b/lib"
  cp native/build/Release/tfkd_native.node "$stage/b/native/build/Release/"
  # The libraries it links that a GPU image (CUDA, PyTorch) usually lacks; glibc/libstdc++ stay the host's.
  ldd native/build/Release/tfkd_native.node | awk '/=> \//{print $3}' | grep -Ev '/(libc|libm|libstdc\+\+|libgcc_s|libpthread|libdl|librt)\.so' | while read -r lib; do
    cp -L "$lib" "$stage/b/lib/"
  done
fi

mkdir -p "$stage/b/lib"
cp -L "$(ldconfig -p | awk '/libvulkan\.so\.1 .*x86-64/{print $NF; exit}')" "$stage/b/lib/" || { echo "gpu-bundle: libvulkan.so.1 not found here (apt-get install libvulkan1)" >&2; exit 2; }

mkdir -p "$(dirname "$out")"
tar -C "$stage/b" -cf - . | xz -T0 -6 >"$out.part"
size=$(stat -c %s "$out.part")
echo "gpu-bundle: $out ($((size / 1048576)) MiB; unpacked $(du -sh "$stage/b" | cut -f1)); Node $(node --version), native add-on: $([[ -d $stage/b/native ]] && echo yes || echo no)"
# Checked before the rename: a bundle too large to travel never replaces one that does.
if ((size > 62 * 1048576)); then
  rm -f "$out.part"
  echo "gpu-bundle: over 62 MiB: it will not travel with a checkout (64 MiB in all); drop --native${out:+ ($out left as it was)}" >&2
  exit 1
fi
mv "$out.part" "$out"
