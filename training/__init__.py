"""Training CoTracker3: data, losses, supervised (Kubric / synthetic) training and pseudo-label fine-tuning.

Data: `synthetic` writes procedural clips with exact ground truth in the Kubric release's
format; `kubric_data.KubricDataset` turns such clips (or the real release) into training items;
`rt_edge.safe_pickle` reads the release's pickled .npy annotations without executing code.
Command line: `python -m training <command>` (one module training/cli_<command>.py each).
"""
