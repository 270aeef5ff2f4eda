"""Prediction: classify images and video frames with a verified bundle, and time a backend.

Owns what a user calls to get answers (``Classifier``) or latency numbers (``benchmark``).
"""
from __future__ import annotations

from .bench import benchmark, latency_stats
from .classifier import Classifier, softmax, top_predictions
from .video import classify_frame, frames, stream_predictions

__all__ = ["benchmark", "latency_stats", "Classifier", "softmax", "top_predictions",
           "classify_frame", "frames", "stream_predictions"]
