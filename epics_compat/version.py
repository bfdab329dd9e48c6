"""Version numbers: of this package, and of the pyepics API it implements.

``__version__`` is what ``epics.__version__`` must look like to code written for pyepics
(ophyd, for one, refuses a pyepics older than 3.4.2): the pyepics release whose API is
implemented here, with this package's own version as the PEP 440 local label.
"""
#: The version of the epics_compat package itself.
epics_compat_version = "0.1.0"
#: The pyepics release whose behaviour this package reproduces.
pyepics_api_version = "3.5.10"

__version__ = version = f"{pyepics_api_version}+epicscompat.{epics_compat_version}"
__version_tuple__ = version_tuple = (3, 5, 10, f"epicscompat.{epics_compat_version}")
__commit_id__ = commit_id = None
