"""Corpus builders: read a dataset in its native form, write an instruction corpus.

Builders import their heavy dependencies (rasterio, geopandas, nibabel, torchgeo)
lazily, inside the functions that need them.
"""
