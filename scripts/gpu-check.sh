#!/usr/bin/env bash
# The GPU check (issue 21), for a copy of the checkout on a machine with an NVIDIA GPU — one that may
# have no Node and reach no registry. It finds Node and node_modules, or unpacks them from the bundle
# scripts/gpu-bundle.sh made (.gpu-bundle/bundle.tar.xz, carried with the checkout), points Vulkan
# at the NVIDIA ICD, and runs scripts/gpu-check.ts (every step with its own timeout; results written
# as it goes to OUT/results.jsonl and OUT/summary.txt).
#
#   scripts/gpu-check.sh [--dry-run] [--out DIR]     (--dry-run: on lavapipe, tiny sizes; see docs/PERFORMANCE.md)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if ! command -v node >/dev/null 2>&1 || [[ ! -e node_modules/tsx ]]; then
  bundle=.gpu-bundle/bundle.tar.xz
  if [[ ! -f $bundle ]]; then
    echo "gpu-check: no Node/node_modules here and no $bundle (make it on a machine with Node: scripts/gpu-bundle.sh)" >&2
    exit 2
  fi
  if [[ ! -x .gpu-bundle/root/node/bin/node ]]; then
    mkdir -p .gpu-bundle/root
    tar -C .gpu-bundle/root -xJf "$bundle" || { echo "gpu-check: cannot unpack $bundle" >&2; exit 2; }
  fi
  export PATH=$root/.gpu-bundle/root/node/bin:$PATH
  [[ -e node_modules ]] || ln -s .gpu-bundle/root/node_modules node_modules
  if [[ -f .gpu-bundle/root/native/build/Release/tfkd_native.node && ! -e native/build/Release/tfkd_native.node ]]; then
    mkdir -p native/build/Release && cp .gpu-bundle/root/native/build/Release/tfkd_native.node native/build/Release/
  fi
  # The bundle's Vulkan loader (and the add-on's libraries) after the machine's own.
  export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$root/.gpu-bundle/root/lib
fi
# The NVIDIA driver's own libraries (libGLX_nvidia.so.0, which its Vulkan ICD names) where the lent machine keeps them.
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
  [[ -d $d ]] && export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d
done
# The Vulkan loader must be findable: the machine's, or the bundle's.
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 ' && [[ -f .gpu-bundle/root/lib/libvulkan.so.1 ]]; then
  export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$root/.gpu-bundle/root/lib
fi
exec node --import tsx scripts/gpu-check.ts "$@"
