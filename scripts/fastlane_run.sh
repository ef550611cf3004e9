#!/usr/bin/env bash
# Runs ON the lent accelerator (README, "The fast lane"), after the carried wheels are installed and
# KERAS_BACKEND=jax is set: a vgg-m teacher, then a vgg-s student at 40 px distilled online from it.
# Each phase lays its whole schedule over its minutes; the weights come back in $OUT (float16).
set -euo pipefail
TEACHER_MINUTES=${TEACHER_MINUTES:-3}
STUDENT_MINUTES=${STUDENT_MINUTES:-3}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 -m ml.engine.fastlane train var/fastlane/train.npz "$OUT/teacher" --preset vgg-m --crop-size 40 \
    --epochs 400 --max-minutes "$TEACHER_MINUTES" --mixed-precision --seed 17
python3 -m ml.engine.fastlane train var/fastlane/train.npz "$OUT/student" --preset vgg-s --crop-size 40 \
    --epochs 400 --max-minutes "$STUDENT_MINUTES" --mixed-precision --seed 19 --teacher "$OUT/teacher/model.keras"
# A returned file may have 16 MB: vgg-m's float32 file (20 MB) stays there, its float16 weights come back.
rm -f "$OUT/teacher/model.keras"
