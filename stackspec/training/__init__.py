"""The model API shared by both backends (the `Model` mixin they subclass): fit, metrics, data
files, weight files, run folders and learning curves. Never imports a backend."""
