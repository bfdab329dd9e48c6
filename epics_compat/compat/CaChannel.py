"""Placeholder for pyepics' ``epics.compat.CaChannel``, which holds no usable API.

In pyepics 3.5.10 the CaChannel class is kept as unexecuted source text, and importing
the module fails without wxPython (it imports ``epics.wx`` for nothing). Here the module
imports, and, as there, it defines no ``CaChannel`` to use: README lists this.
"""
