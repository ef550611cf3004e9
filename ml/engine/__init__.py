"""Emo7ion's ML engine: plain Python (NumPy, OpenCV, TensorFlow), no Django import.

Django apps call into it through services; tests and benchmarks can use it alone.
"""
import os

# TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX-512 VNNI/BF16 or AMX.
# On AVX2-only CPUs they are off, and without them our CNN classifies 1.27x slower and trains
# 2x slower (measured on a 2-core AVX2 EPYC: benchmarks/bench_classifier.py, Keras fit). Set before
# any TensorFlow import; TF_ENABLE_ONEDNN_OPTS=0 in the environment still turns them off.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
