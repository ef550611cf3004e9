"""Emo7ion's ML engine: plain Python (NumPy, OpenCV, TensorFlow), no Django import.

Django apps call into it through services; tests and benchmarks can use it alone.
"""
