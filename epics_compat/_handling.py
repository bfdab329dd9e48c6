"""What the servers' messages do to channels and requests, and what losing a circuit or
a channel does: the threaded client's handlers, on the circuit's lock."""
from __future__ import annotations

import logging
import time

import caproto_core as core
from caproto_core import ProtocolError

from ._context_part import ContextPart
from ._channels import (
    CS_CLOSED,
    CS_CONN,
    READ_ACCESS,
    WRITE_ACCESS,
    ChannelAccessError,
    ClientChannel,
    Pending,
    Subscription,
)
from ._tcp_circuit import Circuit, shutdown_socket
from .engine import NAME_SERVER_RECONNECT, REFUSED_RETRY, SEND_ECHO, state_after_loss

logger = logging.getLogger("epics_compat.context")


class MessageHandling(ContextPart):
    """Context methods that handle messages and losses; on the I/O thread unless said."""

    def _on_closed_by_server(self, circuit: Circuit) -> None:
        """End of stream: normal between messages, an error in the middle of one."""
        expected: int | None
        if circuit.large is not None:
            received, expected = circuit.large.filled, len(circuit.large.buffer)
        else:
            received, expected = circuit.core.buffered, circuit.core.next_message_size()
        if received:
            logger.error("server %s:%d closed the connection in the middle of a message "
                         "(truncated after %d of %s bytes)", *circuit.address, received,
                         expected if expected is not None else "?")
        self._lose_circuit(circuit, "server closed the connection" +
                           (" mid-message" if received else ""))

    def _on_access_rights(self, circuit: Circuit, message) -> None:
        channel = circuit.channels.get(message.cid)
        if channel is None:
            return
        # A plain int, not an IntFlag: this runs for every channel created.
        channel.access_rights = message.parameter2 & (READ_ACCESS | WRITE_ACCESS)
        if channel.state == CS_CONN and _has_listeners(channel):
            self.dispatcher.call(_run_access_callbacks, channel)

    def _on_create_response(self, circuit: Circuit, message) -> None:
        channel = circuit.channels.get(message.cid)
        if channel is None:
            return
        if not 0 <= message.data_type <= core.ChannelType.DOUBLE:
            raise core.RemoteProtocolError(f"channel {channel.name!r}: native type "
                                           f"{message.data_type} is not one of 0..6")
        with self._lock:  # not while a caller clears it
            if channel.state == CS_CLOSED:
                return  # cleared meanwhile: _clear_on_server follows
            channel.native_type = message.data_type
            channel.native_count = message.data_count
            channel.state = CS_CONN
            subscriptions = list(channel.subscriptions)
        channel.connected.set()
        reads, channel.reads_on_connect = channel.reads_on_connect, None
        for pending, count in reads or ():
            self._send_read(channel, pending, count)
        for subscription in subscriptions:
            if not subscription.active:
                continue  # cancelled by a caller meanwhile
            try:
                self._send_subscription(circuit, subscription)
            except (ValueError, TypeError, OverflowError, ProtocolError) as exc:
                logger.error("dropping subscription %r of %r: %s", subscription,
                             channel.name, exc)
                subscription.active = False
                self._drop_subscription(subscription)
        if _connection_wanted(channel, True):
            # One call for both: half the hand-offs when 2,000 channels connect at once.
            self.dispatcher.call(_run_connection_callbacks, channel, True, True)

    def _notify_connection(self, channel: ClientChannel, connected: bool) -> None:
        if _connection_wanted(channel, connected):
            self.dispatcher.call(_run_connection_callbacks, channel, connected, False)

    def _send_subscription(self, circuit: Circuit, subscription: Subscription) -> None:
        channel = subscription.channel
        data_type = subscription.data_type
        if isinstance(data_type, str):
            data_type = core.promote(channel.native_type, data_type)
        assert channel.core is not None  # sent on the channel's own, connected circuit
        request = channel.core.subscribe(data_type, subscription.count, subscription.mask)
        subscription.subscriptionid = request.subscriptionid
        circuit.subscriptions[request.subscriptionid] = subscription
        circuit.send(request)

    def _on_create_failed(self, circuit: Circuit, message) -> None:
        channel = circuit.refused(message.cid)
        if channel is not None:
            logger.warning("server %s:%d refused channel %r; searching again",
                           *circuit.address, channel.name)
            self._disconnect_channel(channel, retry_after=REFUSED_RETRY)

    def _on_server_disconnect(self, circuit: Circuit, message) -> None:
        channel, requests = circuit.dropped(message.cid)
        if channel is not None:
            logger.info("server %s:%d dropped channel %r", *circuit.address, channel.name)
            self._fail(requests, "the server dropped the channel")
            self._disconnect_channel(channel)

    def _on_data(self, circuit: Circuit, message) -> None:
        pending = circuit.pending.pop(message.ioid, None)
        if pending is None:
            return
        message.detach()  # kept (the last result of a get): not its whole buffer
        pending.result = message
        if message.status != core.EcaStatus.ECA_NORMAL:
            pending.error = core.eca_message(message.status)
        circuit.completed.append(pending)
        if pending.callback is not None:
            self.dispatcher.call(pending.callback, pending)

    def _on_error(self, circuit: Circuit, message) -> None:
        failed = message.original_request
        text = message.error_message or core.eca_message(message.status)
        channel = circuit.channels.get(message.cid)
        name = channel.name if channel else f"cid {message.cid}"
        logger.warning("server %s:%d reported an error for %s: %s (%r)", *circuit.address,
                       name, text, failed)
        ioid = getattr(failed, "ioid", None)
        pending = circuit.pending.pop(ioid, None) if ioid is not None else None
        if pending is not None:
            pending.error = text
            circuit.completed.append(pending)
            if pending.callback is not None:
                self.dispatcher.call(pending.callback, pending)

    def _on_echo(self, circuit: Circuit, message) -> None:
        circuit.health.heard(time.monotonic())

    def _on_tcp_search_response(self, circuit: Circuit, message) -> None:
        self._on_search_response(message, circuit.address)

    _HANDLERS = {
        core.AccessRightsResponse: _on_access_rights,
        core.CreateChanResponse: _on_create_response,
        core.CreateChFailResponse: _on_create_failed,
        core.ServerDisconnResponse: _on_server_disconnect,
        core.ReadNotifyResponse: _on_data,
        core.WriteNotifyResponse: _on_data,
        core.ErrorResponse: _on_error,
        core.EchoResponse: _on_echo,
        core.SearchResponse: _on_tcp_search_response,
    }

    #: What a caller receiving its own reply may handle itself: results and callbacks
    #: to queue. The rest changes channels, circuits or timers: the I/O thread's work.
    _CALLER_HANDLERS = {
        core.ReadNotifyResponse: _on_data,
        core.WriteNotifyResponse: _on_data,
        core.AccessRightsResponse: _on_access_rights,
        core.ErrorResponse: _on_error,
        core.EchoResponse: _on_echo,
    }

    def _disconnect_channel(self, channel: ClientChannel, retry_after: float = 0.0) -> None:
        was_connected = channel.state == CS_CONN
        channel.circuit = None
        channel.core = None
        channel.connected.clear()
        channel.state = state_after_loss(channel.state)
        if was_connected:
            self._notify_connection(channel, False)
        if channel.state != CS_CLOSED and channel.chid in self.channels:
            self.loop.call_later(retry_after, self._start_search, channel)

    def _fail(self, requests: list[Pending], reason: str) -> None:
        for pending in requests:
            pending.error = reason
            pending.done.set()
            if pending.callback is not None:
                self.dispatcher.call(pending.callback, pending)

    def _lose_circuit(self, circuit: Circuit, reason: str) -> None:
        if circuit.closed:
            return
        logger.info("circuit to %s:%d lost: %s", *circuit.address, reason)
        self._close_circuit(circuit)
        if circuit.name_server and self._running:
            self.loop.call_later(NAME_SERVER_RECONNECT, self._connect_name_server,
                                 circuit.address)
        requests, channels = circuit.lost()
        self._fail(requests, f"connection to {circuit.host} lost ({reason})")
        retry_after = self._retry.delay_after_loss(circuit.address, circuit.health,
                                                   time.monotonic())
        for channel in channels:
            self._disconnect_channel(channel, retry_after=retry_after)

    def _close_circuit(self, circuit: Circuit) -> None:
        with circuit.lock:
            if circuit.connected and circuit.outgoing:
                self._flush(circuit)  # e.g. channel clears queued just before
            circuit.closed = True
            circuit.connected = False
            if self.circuits.get((circuit.address, circuit.priority)) is circuit:
                del self.circuits[(circuit.address, circuit.priority)]
            if circuit.sock is not None:
                with circuit.io_lock:
                    self.loop.unregister(circuit.sock)
                    if circuit.caller_reading:
                        shutdown_socket(circuit.sock)  # wakes the caller, who closes it
                    else:
                        circuit.sock.close()
            if circuit.core.state is not core.CircuitState.DISCONNECTED:
                circuit.core.disconnect()

    def _clear_on_server(self, channel: ClientChannel) -> None:
        self.search_plan.found(channel.chid)
        channel.reads_on_connect = None
        circuit = channel.circuit
        if circuit is None:
            return
        with circuit.lock:
            circuit.forget(channel)
            core_channel = channel.core
            if core_channel is not None and core_channel.state is core.ChannelState.CONNECTED \
                    and circuit.connected:
                try:
                    circuit.send(core_channel.clear())
                except (ChannelAccessError, ProtocolError) as exc:
                    logger.debug("clearing %r: %s", channel.name, exc)
            if core_channel is not None:
                for subscriptionid in list(core_channel.subscriptions):
                    circuit.subscriptions.pop(subscriptionid, None)
        channel.circuit = None
        channel.core = None
        channel.connected.clear()

    def _check_circuits(self) -> None:
        """Every second: echo silent circuits, drop unresponsive or unconnectable ones."""
        now = time.monotonic()
        for circuit in list(self.circuits.values()) + list(self._name_servers.values()):
            if circuit.closed:
                continue
            action = circuit.health.check(now, self.config.connection_timeout)
            if action == SEND_ECHO:
                with circuit.lock:
                    try:
                        circuit.send(core.EchoRequest())
                        circuit.health.echo_sent(now)
                    except ChannelAccessError:
                        pass
            elif action is not None:
                self._lose_circuit(circuit, action)
        self.loop.call_later(1.0, self._check_circuits)


def _has_callbacks(channel: ClientChannel) -> bool:
    """Whether the channel has callbacks of its own (without making the lists, as the
    properties would)."""
    return bool(channel._connection_callbacks) or bool(channel._access_callbacks)


def _has_listeners(channel: ClientChannel) -> bool:
    """Whether anybody is told of the channel's connection and access changes."""
    return channel.listener is not None or _has_callbacks(channel)


def _connection_wanted(channel: ClientChannel, connected: bool) -> bool:
    """Tell the listener of a connection change, on the I/O thread; whether anybody is
    to be called on the dispatcher. (A dispatcher call per channel when 2,000 connect
    for caget_many, which registers no callback, cost 5% of its time.)"""
    listener = channel.listener
    return (listener is not None and listener.connection_noted(connected)) or \
        _has_callbacks(channel)


def _run_connection_callbacks(channel: ClientChannel, connected: bool,
                              with_access: bool) -> None:
    """On the dispatcher: a channel's listener and connection callbacks, then (on
    connection) its access callbacks; one raising does not keep the others from running."""
    listener = channel.listener
    _run_each("connection", channel, None if listener is None else listener.channel_connection,
              channel._connection_callbacks, connected)
    if with_access:
        _run_access_callbacks(channel)


def _run_access_callbacks(channel: ClientChannel) -> None:
    listener = channel.listener
    _run_each("access", channel, None if listener is None else listener.channel_access,
              channel._access_callbacks, bool(channel.access_rights & READ_ACCESS),
              bool(channel.access_rights & WRITE_ACCESS))


def _run_each(kind: str, channel: ClientChannel, first, callbacks, *args) -> None:
    """``first`` (the listener's method, or None), then each of ``callbacks``, as
    f(channel, *args); one raising is logged and does not stop the others."""
    for callback in ([first] if first is not None else []) + list(callbacks or ()):
        try:
            callback(channel, *args)
        except Exception:
            logger.exception("%s callback %r of %r raised", kind, callback, channel.name)
