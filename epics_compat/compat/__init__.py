"""APIs older EPICS Python programs were written against, as pyepics' ``epics.compat``.

Only ``epicsPV`` (Mark Rivers' class, on PV) works in pyepics 3.5.10, and here; see
``CaChannel`` and ``ca_util`` for why they hold nothing.
"""
from .epicsPV import epicsPV

__all__ = ['epicsPV']
