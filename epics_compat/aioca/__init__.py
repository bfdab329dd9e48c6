"""An aioca-compatible asyncio Channel Access client, without libca.

The functions, classes and constants of aioca 2.x with the same signatures and results,
on the running event loop's own sockets (``_client``): ``caget``, ``caput``,
``camonitor``, ``connect``, ``cainfo``. ``epics_compat.install_as_aioca()`` makes
``import aioca`` give this package.
"""
from __future__ import annotations

from ..version import epics_compat_version
from ._catools import (
                       CAInfo,
                       CANothing,
                       ChannelInfo,
                       Subscription,
                       caget,
                       cainfo,
                       camonitor,
                       caput,
                       connect,
                       get_channel_infos,
                       purge_channel_caches,
                       run,
)
from .cadef import DBE_ALARM, DBE_LOG, DBE_PROPERTY, DBE_VALUE
from .dbr import (
                       DBR_CHAR,
                       DBR_CHAR_BYTES,
                       DBR_CHAR_STR,
                       DBR_CHAR_UNICODE,
                       DBR_CLASS_NAME,
                       DBR_DOUBLE,
                       DBR_ENUM,
                       DBR_ENUM_STR,
                       DBR_FLOAT,
                       DBR_LONG,
                       DBR_PUT_ACKS,
                       DBR_PUT_ACKT,
                       DBR_SHORT,
                       DBR_STRING,
                       DBR_STSACK_STRING,
                       FORMAT_CTRL,
                       FORMAT_RAW,
                       FORMAT_TIME,
                       ca_extra_fields,
)

#: The aioca release whose API this follows, with this package's version as a local
#: label (as the pyepics version is given).
AIOCA_VERSION = "2.1"


__version__ = f"{AIOCA_VERSION}+epicscompat.{epics_compat_version}"

__all__ = [
    "Subscription", "caput", "caget", "camonitor", "connect", "cainfo", "CAInfo",
    "CANothing", "ChannelInfo", "get_channel_infos", "purge_channel_caches", "run",
    "__version__", "DBE_VALUE", "DBE_LOG", "DBE_ALARM", "DBE_PROPERTY", "DBR_STRING",
    "DBR_SHORT", "DBR_FLOAT", "DBR_ENUM", "DBR_CHAR", "DBR_LONG", "DBR_DOUBLE",
    "DBR_CHAR_STR", "DBR_CHAR_UNICODE", "DBR_ENUM_STR", "DBR_CHAR_BYTES", "DBR_PUT_ACKT",
    "DBR_PUT_ACKS", "DBR_STSACK_STRING", "DBR_CLASS_NAME", "FORMAT_RAW", "FORMAT_TIME",
    "FORMAT_CTRL", "ca_extra_fields",
]
