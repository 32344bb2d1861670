"""Supervised (Kubric / synthetic) training and pseudo-label fine-tuning of CoTracker3."""
