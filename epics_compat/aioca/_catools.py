"""aioca's functions: caget, caput, camonitor, connect, cainfo, on this loop's client."""
from __future__ import annotations

import asyncio
import functools
import inspect
import sys
import time
import traceback
import warnings
from collections import deque
from typing import Any, Awaitable, Callable

import caproto_core as core

from . import cadef, dbr
from .._large_buffers import allocate
from ._client import CAChannel, Circuit, Disconnected, client, purge_all

DEFAULT_TIMEOUT = 5.0


class CANothing(Exception):  # noqa: N818 (aioca's name)
    """No value: what caput returns on success (true), and what a failed caget or caput
    raises, or returns with ``throw=False`` (false, with the ECA code)."""

    def __init__(self, name: str, errorcode: int = cadef.ECA_NORMAL):
        self.name = name
        self.ok = errorcode == cadef.ECA_NORMAL
        self.errorcode = errorcode

    def __repr__(self) -> str:
        return f"CANothing({self.name!r}, {self.errorcode})"

    def __str__(self) -> str:
        return f"{self.name}: {cadef.ca_message(self.errorcode)}"

    def __bool__(self) -> bool:
        return self.ok


# --- timeouts, throw=False and lists of PVs ---------------------------------------------

async def _with_timeout(awaitable: Awaitable, name: str, timeout) -> Any:
    """``timeout``: None (forever), seconds, or (an absolute time.time() deadline,)."""
    if timeout is None:
        return await awaitable
    if isinstance(timeout, tuple):
        timeout = timeout[0] - time.time()
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except asyncio.TimeoutError:
        raise CANothing(name, cadef.ECA_TIMEOUT) from None


def _failure(name: str, exc: Exception) -> CANothing | None:
    """The CANothing that ``throw=False`` returns for ``exc`` (None: not ours to catch)."""
    if isinstance(exc, CANothing):
        return exc
    if isinstance(exc, cadef.CAException):
        return CANothing(name, exc.status)
    if isinstance(exc, Disconnected):
        return CANothing(name, cadef.ECA_DISCONN)
    return None


def _per_pv(function):
    """Give ``function(pv, ...)`` aioca's ``timeout`` and ``throw`` keywords, and make a
    list or tuple of PVs run it for each PV in parallel, giving a list."""
    async def one(pv, *args, timeout=DEFAULT_TIMEOUT, throw=True, **kwargs):
        try:
            return await _with_timeout(function(pv, *args, **kwargs), pv, timeout)
        except Exception as exc:
            failure = _failure(pv, exc)
            if throw or failure is None:
                if isinstance(exc, Disconnected):
                    raise CANothing(pv, cadef.ECA_DISCONN) from None
                raise
            return failure

    @functools.wraps(function)
    async def wrapper(pv, *args, **kwargs):
        if isinstance(pv, (list, tuple)):
            return await _many(one, pv, args, kwargs)
        return await one(pv, *args, **kwargs)

    signature = inspect.signature(function)
    extra = [inspect.Parameter("timeout", inspect.Parameter.KEYWORD_ONLY,
                               default=DEFAULT_TIMEOUT),
             inspect.Parameter("throw", inspect.Parameter.KEYWORD_ONLY, default=True)]
    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), *extra])
    return wrapper


async def _many(one, pvs, args, kwargs, values=None) -> list:
    """Each PV at once; with throw (the default) the timeout covers them all."""
    throw = kwargs.get("throw", True)
    each = dict(kwargs, timeout=None) if throw else kwargs
    calls = [one(pv, *((values[i],) if values is not None else ()), *args, **each)
             for i, pv in enumerate(pvs)]
    gathered = asyncio.gather(*calls)
    if not throw:
        return list(await gathered)
    try:
        return list(await _with_timeout(gathered, "Multiple PVs",
                                        kwargs.get("timeout", DEFAULT_TIMEOUT)))
    finally:
        gathered.cancel()


def _channel(pv: str) -> CAChannel:
    if not isinstance(pv, str):
        raise TypeError(f"a PV name must be a str, not {type(pv).__name__}: {pv!r}")
    return client().channel(pv)


def _live(channel: CAChannel, pv: str) -> tuple[core.Channel, Circuit]:
    """The channel's core channel and circuit; CANothing if it has just disconnected
    (between the connection and the task resuming)."""
    if channel.core is None or channel.circuit is None:
        raise CANothing(pv, cadef.ECA_DISCONN)
    return channel.core, channel.circuit


def _element_count(channel: CAChannel, count: int) -> int:
    if count < 0:
        return channel.element_count
    return min(count, channel.element_count) if count > 0 else 0


# --- caget -------------------------------------------------------------------------------

@_per_pv
async def caget(pv: str, datatype=None, format=dbr.FORMAT_RAW, count=0):
    """The value of one PV (or a list of values of a list of PVs), augmented with the
    fields that ``format`` asks for."""
    channel = _channel(pv)
    await channel.connected.wait()
    request = dbr.ReadRequest(pv, channel.native_type, channel.element_count, datatype,
                              format)
    if not channel.read_access:
        raise cadef.CAException(cadef.ECA_NORDACCESS, "ca_array_get_callback")
    core_channel, circuit = _live(channel, pv)
    message = core_channel.read(request.dbr_code, _element_count(channel, count))
    answer = await circuit.request(channel, message)
    if answer.status != cadef.ECA_NORMAL:  # a failed read, or the server's error
        raise CANothing(pv, int(answer.status))
    return request.value(*answer.decode(allocate=allocate))


# --- caput -------------------------------------------------------------------------------

@_per_pv
async def _caput_one(pv: str, value, datatype=None, wait=False):
    channel = _channel(pv)
    await channel.connected.wait()
    dbr_code, data, count = dbr.write_request(channel.native_type, pv, datatype, value)
    function = "ca_array_put_callback" if wait else "ca_array_put"
    if not channel.write_access:
        raise cadef.CAException(cadef.ECA_NOWTACCESS, function)
    if dbr_code == dbr.DBR_STRING and any(len(item) >= dbr.MAX_STRING_SIZE
                                          for item in data):
        raise cadef.CAException(cadef.ECA_BADSTR, function)  # no room for the NUL
    core_channel, circuit = _live(channel, pv)
    try:
        message = core_channel.write(data, dbr_code, count, notify=wait)
    except (ValueError, TypeError, OverflowError, core.ProtocolError) as exc:
        raise ValueError(f"{pv}: cannot write {value!r}: {exc}") from None
    if wait:
        assert isinstance(message, core.WriteNotifyRequest)  # notify=wait
        answer = await circuit.request(channel, message)
        if answer.status != cadef.ECA_NORMAL:
            raise CANothing(pv, int(answer.status))
    else:
        circuit.send(message)
    return CANothing(pv)


async def caput(pv, value, repeat_value=False, datatype=None, wait=False, **kwargs):
    """Write ``value`` to a PV (with ``wait``, until the server says it is done), or
    values to a list of PVs: one value each, or the same for all (``repeat_value``, a
    str, or a value that is not a sequence). Returns CANothing (true) on success."""
    if not isinstance(pv, (list, tuple)):
        return await _caput_one(pv, value, datatype=datatype, wait=wait, **kwargs)
    if repeat_value or isinstance(value, str):
        values = [value] * len(pv)
    else:
        try:
            values = list(value)
        except TypeError:
            values = [value] * len(pv)
    if len(values) != len(pv):
        raise ValueError(f"{len(pv)} PVs but {len(values)} values")
    return await _many(_caput_one, pv, (), dict(kwargs, datatype=datatype, wait=wait),
                       values)


caput.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
    *inspect.signature(caput).parameters.values()][:5] + [
    inspect.Parameter("timeout", inspect.Parameter.KEYWORD_ONLY, default=DEFAULT_TIMEOUT),
    inspect.Parameter("throw", inspect.Parameter.KEYWORD_ONLY, default=True)])


# --- connect and cainfo -------------------------------------------------------------------

@_per_pv
async def connect(pv: str, wait=True):
    """Start connecting a PV (or a list); with ``wait``, until it is connected."""
    channel = _channel(pv)
    if wait:
        await channel.connected.wait()
    return CANothing(pv)


class CAInfo:
    """What cainfo says of a channel."""
    state_strings = ["never connected", "previously connected", "connected", "closed"]
    datatype_strings = ["string", "short", "float", "enum", "char", "long", "double",
                        "no access"]

    def __init__(self, pv: str, channel: CAChannel):
        self.ok = True
        self.name = pv
        self.state = channel.state
        self.host = channel.host
        self.read = channel.read_access
        self.write = channel.write_access
        connected = channel.state == cadef.cs_conn
        self.count = channel.element_count if connected else 0
        self.datatype = channel.native_type if connected else 7

    def __str__(self) -> str:
        return (f"{self.name}:\n"
                f"    State: {self.state_strings[self.state]}\n"
                f"    Host: {self.host}\n"
                f"    Access: {self.read}, {self.write}\n"
                f"    Data type: {self.datatype_strings[self.datatype]}\n"
                f"    Count: {self.count}")


@_per_pv
async def cainfo(pv: str, wait=True):
    """A CAInfo of a PV (or a list of them); with ``wait``, once connected."""
    channel = _channel(pv)
    if wait:
        await channel.connected.wait()
    return CAInfo(pv, channel)


class ChannelInfo:
    """A channel of this loop's client: its name, whether it is connected, and how many
    subscriptions it has."""

    def __init__(self, name: str, connected: bool, subscriber_count: int):
        self.name = name
        self.connected = connected
        self.subscriber_count = subscriber_count


def get_channel_infos() -> list[ChannelInfo]:
    """A ChannelInfo for every channel of the running loop's client."""
    return [ChannelInfo(channel.name, channel.connected.is_set(),
                        len(channel.subscriptions))
            for channel in client().channels.values()]


def purge_channel_caches() -> None:
    """Close every channel and subscription of every loop (for a clean shutdown)."""
    purge_all()


def run(coro, forever: bool = False):
    """Run ``coro`` in a new event loop (deprecated in aioca, as here: use asyncio.run)."""
    warnings.warn("aioca.run is deprecated, please use asyncio.run instead",
                  DeprecationWarning, stacklevel=2)
    loop = asyncio.new_event_loop()
    task = None
    try:
        if forever:
            task = loop.create_task(coro)
            loop.run_forever()
            return None
        return loop.run_until_complete(coro)
    finally:
        if task is not None:
            task.cancel()
        loop.close()


# --- camonitor ---------------------------------------------------------------------------

_DEFAULT_EVENTS = {
    dbr.FORMAT_RAW: cadef.DBE_VALUE,
    dbr.FORMAT_TIME: cadef.DBE_VALUE | cadef.DBE_ALARM,
    dbr.FORMAT_CTRL: cadef.DBE_VALUE | cadef.DBE_ALARM | cadef.DBE_PROPERTY,
}


class Subscription:
    """One camonitor: updates of a PV passed to a callback, one at a time.

    Updates that come while the callback runs (or before it could) are merged into the
    newest one unless ``all_updates``; ``dropped_callbacks`` counts those merged away.
    A callback that raises closes the subscription (the error is printed).
    """
    OPENING, OPEN, CLOSED = 0, 1, 2

    def __init__(self, name: str, callback: Callable[[Any], None | Awaitable],
                 events=None, datatype=None, format=dbr.FORMAT_RAW, count=0,
                 all_updates=False, notify_disconnect=False, connect_timeout=None):
        self.name = name
        self.callback = callback
        self.all_updates = all_updates
        self.notify_disconnect = notify_disconnect
        self.dropped_callbacks = 0
        self.state = self.OPENING
        self.pending_values: deque = deque(maxlen=None if all_updates else 1)
        self.channel = _channel(name)
        self.channel.subscribers.add(self)
        self._wake = asyncio.Event()
        events = _DEFAULT_EVENTS[format] if events is None else events
        self._task = asyncio.ensure_future(
            self._run(events, datatype, format, count, connect_timeout))

    def __repr__(self) -> str:
        return f"<Subscription {self.name!r} state={self.state}>"

    def _queue(self, value) -> None:
        if self.pending_values.maxlen and self.pending_values:
            self.dropped_callbacks += 1
        self.pending_values.append(value)
        self._wake.set()

    def _on_connection(self, connected: bool) -> None:
        if not connected and self.notify_disconnect:
            self._queue(CANothing(self.name, cadef.ECA_DISCONN))

    async def _run(self, events, datatype, format, count, connect_timeout) -> None:
        try:
            await self._wait_for_channel(connect_timeout)
            channel = self.channel
            request = dbr.ReadRequest(self.name, channel.native_type, channel.element_count,
                                      datatype, format)
            count = channel.element_count if count < 0 else count
            self.state = self.OPEN

            def on_update(message) -> None:
                if message.status != cadef.ECA_NORMAL:
                    return  # e.g. no read access: no value to pass on
                self._queue(request.value(*message.decode(allocate=allocate)))

            channel.listeners.add(self._on_connection)
            channel.subscriptions[self] = (request.dbr_code, count, events, on_update)
            if channel.circuit is not None:  # else subscribed when it connects again
                channel.circuit.subscribe(channel, request.dbr_code, count, events,
                                          on_update)
            await self._deliver()
        except asyncio.CancelledError:
            raise
        except Exception:
            self.close(sys.exc_info())
            raise

    async def _wait_for_channel(self, timeout) -> None:
        try:
            await _with_timeout(self.channel.connected.wait(), self.name, timeout)
        except CANothing as timed_out:
            # Said even without notify_disconnect; updates follow if it ever connects.
            result = self.callback(timed_out)
            if inspect.isawaitable(result):
                await result
            await self.channel.connected.wait()

    async def _deliver(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.pending_values:
                result = self.callback(self.pending_values.popleft())
                if inspect.isawaitable(result):
                    await result

    def close(self, exc_info=None) -> None:
        """Stop: no more callbacks, not even for updates already received."""
        if exc_info:
            print(f"Subscription {self.name} callback raised exception", file=sys.stderr)
            traceback.print_exception(*exc_info)
            print(f"Subscription {self.name} closed", file=sys.stderr)
        if self.state == self.CLOSED:
            return
        channel = self.channel
        channel.subscribers.discard(self)
        channel.listeners.discard(self._on_connection)
        settings = channel.subscriptions.pop(self, None)
        circuit, core_channel = channel.circuit, channel.core
        if settings is not None and core_channel is not None and circuit is not None:
            for subscriptionid, on_update in list(circuit.updates.items()):
                if on_update is settings[3]:
                    _cancel(circuit, core_channel, subscriptionid)
        self.pending_values.clear()
        if not self._task.done() and not self._task.get_loop().is_closed():
            self._task.cancel()
        self.state = self.CLOSED


def _cancel(circuit: Circuit, core_channel: core.Channel, subscriptionid: int) -> None:
    circuit.updates.pop(subscriptionid, None)
    try:
        circuit.send(core_channel.unsubscribe(subscriptionid))
    except (Disconnected, core.ProtocolError):
        pass  # the circuit is going: the server forgets it anyway


def camonitor(pv, callback, events=None, datatype=None, format=dbr.FORMAT_RAW, count=0,
              all_updates=False, notify_disconnect=False, connect_timeout=None):
    """Subscribe to a PV (a Subscription), or to each of a list of PVs (a list of them;
    the callback then also gets the index of the PV in the list)."""
    options = dict(events=events, datatype=datatype, format=format, count=count,
                   all_updates=all_updates, notify_disconnect=notify_disconnect,
                   connect_timeout=connect_timeout)
    if isinstance(pv, str):
        return Subscription(pv, callback, **options)
    return [Subscription(name, functools.partial(_with_index, callback, index), **options)
            for index, name in enumerate(pv)]


def _with_index(callback, index: int, value):
    return callback(value, index)
