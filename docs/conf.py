"""Sphinx configuration: the pages take their text from README.rst (one source) and the
API reference from the docstrings."""
import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "epics_compat"
author = "the epics_compat developers"
extensions = ["sphinx.ext.autodoc"]
autodoc_member_order = "bysource"
autodoc_typehints = "none"
exclude_patterns = ["_build"]
html_theme = "alabaster"
#: README mixes shell and Python in its literal blocks: show them as they are.
highlight_language = "none"
