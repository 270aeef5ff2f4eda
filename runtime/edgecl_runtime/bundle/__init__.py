"""Bundles: read and check one (manifest, files, sha256, signature), sign one, and verify it by the gate.

Owns the device's judgement of a bundle: ``read`` loads it, ``signing`` checks who made it,
``gate`` compares logits (shared with the exporter), ``verify`` runs the gate on a backend.
"""
from __future__ import annotations

from .gate import accuracy_pct, evaluate_gate, merge_thresholds, tensor_check, top1_agreement
from .read import (Bundle, check_files, fingerprint, load_bundle, load_golden, read_manifest,
                   readable)
from .signing import (canonical_bytes, check_signature, check_signed, generate_keypair,
                      load_private_key, load_trust, sign_bundle, sign_manifest)
from .verify import gate_on_golden, load_thresholds, verify_bundle

__all__ = ["accuracy_pct", "evaluate_gate", "merge_thresholds", "tensor_check", "top1_agreement",
           "Bundle", "check_files", "fingerprint", "load_bundle", "load_golden", "read_manifest",
           "readable", "canonical_bytes", "check_signature", "check_signed", "generate_keypair",
           "load_private_key", "load_trust", "sign_bundle", "sign_manifest", "gate_on_golden",
           "load_thresholds", "verify_bundle"]
