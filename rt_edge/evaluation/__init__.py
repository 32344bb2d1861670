"""Evaluation shared by training and benchmarks: Predictor, rt_edge_predictor, LK/flow trackers, TAP-Vid metrics."""
