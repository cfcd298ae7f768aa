"""The model API shared by both backends: fit, metrics, data files, weight files, run folders and
learning curves."""
