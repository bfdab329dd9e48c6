"""The base of the parts that the threaded client's Context is made of.

``Searching``, ``CircuitIO`` and ``MessageHandling`` are mixins of one ``Context``
(``_context.py``): each uses state and methods that Context or another part defines.
At run time their base is ``object``; to a type checker it is ``Any``, so that those
cross-references are not reported as missing. Everything else in the parts (their own
attributes, arguments, None checks) is checked as usual.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    ContextPart = Any
else:
    ContextPart = object
