"""Datasets and loaders.

Modules: ``idx`` (IDX files), ``imageset`` (ImageSet/Source), ``sources``
(``load_source``), ``mnist_like``, ``imagefolder``, ``stream`` (class-incremental
split), ``transforms`` and ``loader`` (torch batches).  Import the submodule you need;
this package imports nothing so that ``edgecl.data.idx`` stays cheap.
"""
