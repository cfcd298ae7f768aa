"""Keras in and out (issue 13): `compile --emit keras` prints a standalone Keras 3 model of a spec
(layers.py, source.py), and `import-keras` turns a Keras Sequential model into a spec and its
weights into a stackspec weight file (archive.py reads the `.keras` file, convert.py maps it).

Neither needs Keras installed: the emitted source imports keras when it runs, and a `.keras` file
is a zip of JSON and HDF5, read with h5py (the `keras` extra).
"""

from __future__ import annotations

H5PY_MISSING = (
    "reading the weights of a .keras file needs h5py, which is not installed; install it with "
    "`pip install 'stackspec[keras]'`"
)
