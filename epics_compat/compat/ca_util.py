"""Placeholder for pyepics' ``epics.compat.ca_util``, which holds no usable API.

pyepics 3.5.10 keeps Tim Mooney's ca_util functions as unexecuted source text, so
``from epics.compat.ca_util import caget`` fails there with ImportError; it fails the
same way here. Use ``epics_compat.caget``/``caput`` instead.
"""
