"""Emo7ion's ML engine: plain Python (NumPy, OpenCV, TensorFlow), no Django import.

Django apps call into it through services; tests and benchmarks can use it alone.
"""
import os

# TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX-512 VNNI/BF16 or AMX.
# On AVX2-only CPUs they are off, and our CNN runs 2.4x slower in inference and 2x slower in
# training without them (measured on a 2-core AVX2 EPYC). Set before any TensorFlow import;
# TF_ENABLE_ONEDNN_OPTS=0 in the environment still turns them off.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
