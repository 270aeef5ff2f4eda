"""Backbone pre-training for the bundled default: synthetic glyphs (glyphs), training (train), probes (probe)."""
