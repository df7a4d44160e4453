#!/usr/bin/env bash
# Unpacks Mesa 25's lavapipe (a software Vulkan driver) from Debian's bookworm-backports into a
# folder, without installing it, so that the WebGPU code paths (onnxruntime's WebGPU provider, tfjs's
# WebGPU backend, both on Dawn over Vulkan) run for real on a machine with no GPU.
#
# Why this one: Dawn refuses Debian 12's own lavapipe (Mesa 22.3 lacks shader*ArrayDynamicIndexing)
# and accepts Mesa 25.0.7's. Nothing is installed system-wide but libvulkan1 (the Vulkan loader):
# the driver and its newer libdrm are `dpkg -x`-ed into $DIR, and $DIR/env says how to use them:
#   VK_DRIVER_FILES=$DIR/lvp_icd.json   (an ICD manifest with the driver's absolute path)
#   LD_LIBRARY_PATH=$DIR/lib            (libdrm.so.2 2.4.123; bookworm's 2.4.114 is not needed
#                                        when it is installed, but a bare machine has none)
# The tests (test/helpers/webgpu.ts) read $DIR/env; $DIR defaults to <checkout>/.lavapipe.
#
# Usage: scripts/lavapipe.sh [DIR]      (as root it adds bookworm-backports to apt if missing and
#                                        installs libvulkan1; otherwise it says what to run)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-${TFKD_LAVAPIPE:-$root/.lavapipe}}
arch=$(dpkg --print-architecture)
triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo "$(uname -m)-linux-gnu")

if [[ -f "$dir/env" && -f "$dir/lib/libvulkan_lvp.so" ]]; then
  echo "lavapipe: already in $dir"
  exit 0
fi

sudo_or_say() { # run as root, or print the command and stop
  if [[ $(id -u) == 0 ]]; then "$@"; else
    echo "lavapipe: needs root for: $*" >&2
    exit 2
  fi
}

if ! (set +o pipefail; apt-cache policy 2>/dev/null | grep -q 'bookworm-backports'); then
  # The same mirror host as the existing Debian sources (a snapshot or local mirror stays in use).
  # No pipefail here: sources.list is absent on machines that only have deb822 sources.list.d/*.sources.
  host=$(set +o pipefail; grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | grep -v security | head -1 | tr -d ' ')
  host=${host:-http://deb.debian.org/debian}
  echo "lavapipe: adding bookworm-backports from ${host%/}"
  sudo_or_say sh -c "echo 'deb ${host%/} bookworm-backports main' > /etc/apt/sources.list.d/bookworm-backports.list"
  sudo_or_say apt-get update -qq
fi
if ! dpkg -s libvulkan1 >/dev/null 2>&1; then
  sudo_or_say apt-get install -y -qq --no-install-recommends libvulkan1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# As root, apt warns that the download ran unsandboxed (the _apt user cannot write $tmp): harmless.
(cd "$tmp" && apt-get download -qq "mesa-vulkan-drivers:$arch/bookworm-backports" "libdrm2:$arch/bookworm-backports")
for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$tmp/x"; done

# Only the lavapipe driver and libdrm (10 MB, not the 64 MB of every Mesa driver).
mkdir -p "$dir.part/lib"
cp -a "$tmp/x/usr/lib/$triplet/libvulkan_lvp.so" "$tmp/x/usr/lib/$triplet"/libdrm.so.2* "$dir.part/lib/"
api=$(sed -n 's/.*"api_version": *"\([^"]*\)".*/\1/p' "$tmp/x/usr/share/vulkan/icd.d/lvp_icd.json")
printf '{\n  "file_format_version": "1.0.0",\n  "ICD": { "library_path": "%s", "api_version": "%s" }\n}\n' "$dir/lib/libvulkan_lvp.so" "$api" >"$dir.part/lvp_icd.json"
ver=$(dpkg-deb -f "$tmp"/mesa-vulkan-drivers_*.deb Version)
printf 'VK_DRIVER_FILES=%s\nLD_LIBRARY_PATH=%s\nMESA_VERSION=%s\n' "$dir/lvp_icd.json" "$dir/lib" "$ver" >"$dir.part/env"
rm -rf "$dir"
mv "$dir.part" "$dir"
echo "lavapipe: Mesa $ver in $dir (use: set -a; . $dir/env; set +a)"
