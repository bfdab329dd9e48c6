"""epics-shark: every Channel Access message of a packet capture, one readable line each.

Reads a pcap file, or a pcap stream on stdin as it grows::

    tcpdump -i lo -w - port 5064 or port 5065 | epics-shark
    epics-shark capture.pcap --pv XX:ai --command ReadNotifyResponse

TCP streams are put back in order before they are parsed (a message may span segments,
and a segment hold many); bytes the capture lost are said as such. A channel's name is
learnt from its search and CREATE_CHAN, so that ``--pv`` also finds the messages that
carry only its ids.
"""
from .cli import main

__all__ = ["main"]
