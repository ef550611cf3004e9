#!/usr/bin/env bash
# Prepares a fast-lane run for a session that is lent an accelerator (README, "The fast lane").
# Here, on the CPU: packs the FER2013 training faces into var/fastlane/ (git-ignored, carried), downloads
# the Keras wheels the accelerator lacks into .whl/ (ignored locally, carried), and checks that what
# travels fits the device's 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
mkdir -p var/fastlane
[ -f var/fastlane/train.npz ] || "$PY" -m ml.engine.fastlane pack ../shared/datasets/fer2013/train var/fastlane/train.npz
grep -qx '/.whl/' .git/info/exclude || echo '/.whl/' >> .git/info/exclude
# The accelerator has JAX, NumPy, h5py, rich, ml-dtypes and absl-py; Keras and these two are carried,
# at the versions this project runs (Python 3.12 there).
versions=$("$PY" -c 'import importlib.metadata as m; print(*(f"{p}=={m.version(p)}" for p in ("keras", "namex", "optree")))')
# shellcheck disable=SC2086
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl $versions
# What travels: the tracked files as they are in the working tree, plus the two carried folders.
tracked=$(git ls-files -z | xargs -0 stat -c %s 2>/dev/null | awk '{s+=$1} END {print s}')
carried=$(du -sb var/fastlane .whl | awk '{s+=$1} END {print s}')
models=$(git ls-files -z -- '*.keras' | xargs -0 stat -c %s 2>/dev/null | awk '{s+=$1} END {print s}')
limit=$((64 * 1024 * 1024))
echo "tracked $((tracked / 1000000)) MB + carried $((carried / 1000000)) MB; the limit is $((limit / 1000000)) MB"
if [ $((tracked + carried)) -gt $limit ]; then
    echo "Over the limit. The committed model files ($((models / 1000000)) MB) are not needed there: remove them"
    echo "from the working tree for the call and restore them after:"
    echo "  git ls-files -z -- '*.keras' | xargs -0 rm    # then, after the call: git checkout -- ml"
fi
