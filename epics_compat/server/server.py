"""``Server``: a Channel Access server for PVs declared in Python, on the core's SERVER role.

    with Server([PV("x", "double", 1.5), Motor("m1")]) as server:
        ...  # clients find x and m1 on 127.0.0.1:server.port

It listens on TCP and UDP on the same port (``port=0`` picks a free one), answers
searches, serves the circuits of any number of clients on one thread (``loop``), and
sends beacons to ``beacon_addresses``. It observes its PVs: a PV written from any thread
tells the server, which posts the monitor updates. Code of PV groups (write handlers,
periodic hooks) runs on the ``handlers`` runner, never on the thread that answers
clients. ``hooks`` is asked before the server acts; tests' ``server.faults`` replaces it.
"""
from __future__ import annotations

import itertools
import logging
import selectors
import socket
import threading
import time
from collections import deque
from typing import Any, Callable, Iterable

from caproto_core import ADDRESS_OF_SENDER, DEFAULT_REPEATER_PORT, AccessRights

from .connection import Connection, Subscription
from .discovery import SEARCH_LOG_SIZE, Discovery
from .hooks import ServerHooks
from .._event_loop import EventLoop, Timer
from .pv import PV
from .runtime import HandlerRunner

logger = logging.getLogger("epics_compat.server")

#: rsrv's default (EPICS_CAS_BEACON_PERIOD).
DEFAULT_BEACON_PERIOD = 15.0
#: Largest payload accepted from a client (a write of a big array).
DEFAULT_MAX_PAYLOAD_SIZE = 100_000_000


class Server:
    """A threaded CA server; ``start()``/``stop()`` or use it as a context manager.

    ``pvs`` holds PV objects and groups (objects with a ``pvs`` list, like ``Motor`` or
    any ``Group``). ``beacon_address`` is where beacons go: a (host, port), a list of
    them, or None (no beacons); ``beacon_addresses``, a list, is used instead when given.
    ``host`` is the interface served ("0.0.0.0": every interface).
    """

    def __init__(self, pvs: Iterable[Any] = (), host: str = "127.0.0.1", port: int = 0, *,
                 beacon_address: tuple[str, int] | list[tuple[str, int]] | None = (
                     "127.0.0.1", DEFAULT_REPEATER_PORT),
                 beacon_addresses: Iterable[tuple[str, int]] | None = None,
                 beacon_period: float = DEFAULT_BEACON_PERIOD,
                 max_payload_size: int = DEFAULT_MAX_PAYLOAD_SIZE):
        self.host = host
        self.port = port
        self.beacon_addresses: list[tuple[str, int]] = []
        self.beacon_address = beacon_address if beacon_addresses is None \
            else list(beacon_addresses)
        self.beacon_period = beacon_period
        self.max_payload_size = max_payload_size
        #: Guards the protocol state (circuits, subscriptions); the loop thread holds it
        #: while it handles input. A PV's own lock is separate (see pv.py).
        self.lock = threading.RLock()
        self._loop: EventLoop | None = None  # while running
        self.hooks: ServerHooks = ServerHooks()
        self.handlers = HandlerRunner()
        self._faults = None
        self.connections: set[Connection] = set()
        self.records: list[Any] = []
        self._pvs: dict[str, PV] = {}
        self._subscribers: dict[PV, set[Subscription]] = {}
        self._sids = itertools.count(1)
        #: (time.monotonic(), name, client address) of recent UDP searches, for tests.
        self.searches: deque = deque(maxlen=SEARCH_LOG_SIZE)
        self._listener: socket.socket | None = None
        self._discovery: Discovery | None = None
        self._running = False
        for item in pvs:
            self.add(item)

    def __repr__(self) -> str:
        state = f"{self.host}:{self.port}" if self._running else "stopped"
        return f"<Server {state} pvs={len(self._pvs)} circuits={len(self.connections)}>"

    # --- the PVs ----------------------------------------------------------------------

    @property
    def faults(self):
        """The fault injector of this server (for tests); installed as ``hooks`` when
        first asked for."""
        if self._faults is None:
            from .faults import Faults
            self._faults = Faults(self)
            self.hooks = self._faults
        return self._faults

    def add(self, item: PV | Any) -> None:
        """Serve a PV, or every PV of a group (an object with ``pvs``).

        A group's ``attach(server)`` is called while the server runs (at once if it
        runs already, else by ``start``), and its ``detach()`` when it stops.
        """
        with self.lock:
            if isinstance(item, PV):
                self._add_pv(item)
                return
            pvs = list(item.pvs)
            for pv in pvs:
                self._check_name(pv)
            for pv in pvs:
                self._add_pv(pv)
            self.records.append(item)
            running = self._running
        if running:
            self._attach(item)

    def _check_name(self, pv: PV) -> None:
        for observer in pv.observers:
            if isinstance(observer, Server) and observer is not self:
                raise ValueError(f"PV {pv.name!r} is already served by {observer!r}")
        for name in (pv.name, *pv.aliases):
            if name in self._pvs and self._pvs[name] is not pv:
                raise ValueError(f"a PV named {name!r} is already served")

    def _add_pv(self, pv: PV) -> None:
        self._check_name(pv)
        for name in (pv.name, *pv.aliases):
            self._pvs[name] = pv
        pv.observe(self)

    def _attach(self, record: Any) -> None:
        attach = getattr(record, "attach", None)
        if attach is not None:
            attach(self)

    def remove(self, name: str) -> PV:
        """Stop serving a PV (its channels are disconnected); returns it."""
        with self.lock:
            pv = self._pvs[name]
            for alias in [n for n, p in self._pvs.items() if p is pv]:
                del self._pvs[alias]
            for connection in list(self.connections):
                connection.pv_removed(pv)
            pv.unobserve(self)
            return pv

    def find(self, name: str) -> PV | None:
        """The PV a client means by ``name`` ('rec' and 'rec.VAL' are the same)."""
        pv = self._pvs.get(name)
        if pv is None:
            if name.endswith(".VAL"):
                pv = self._pvs.get(name[:-4])
            else:
                pv = self._pvs.get(name + ".VAL")
        return pv

    def __getitem__(self, name: str) -> PV:
        pv = self.find(name)
        if pv is None:
            raise KeyError(f"no PV named {name!r} is served here")
        return pv

    def __contains__(self, name: str) -> bool:
        return self.find(name) is not None

    @property
    def pvs(self) -> dict[str, PV]:
        """Name (aliases included) -> PV."""
        return dict(self._pvs)

    def reply_ip(self) -> str | int:
        """The address search replies give: ours, or 'the sender' when on every interface."""
        return ADDRESS_OF_SENDER if self.host in ("", "0.0.0.0") else self.host

    def rights(self, pv: PV) -> AccessRights:
        """The access rights clients get for ``pv`` now, faults included."""
        rights = pv.access
        if self.hooks.denies_write(pv):
            rights &= ~AccessRights.WRITE
        return AccessRights(rights)

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> Server:
        """Bind the sockets, start the thread and the beacons; returns self."""
        with self.lock:
            if self._running:
                return self
            loop = self._loop = EventLoop("epics_compat.server", lock=self.lock)
            try:
                discovery = self._bind()
            except OSError:
                loop.close()
                self._loop = None
                raise
            self._running = True
            loop.start()
            discovery.start_beacons()
            records = list(self.records)
        if any(hasattr(record, "attach") for record in records):
            self.handlers.start()
        for record in records:
            self._attach(record)
        logger.info("serving %d PV names on %s:%d", len(self._pvs), self.host, self.port)
        return self

    def stop(self) -> None:
        """Close every circuit and socket and stop the thread."""
        with self.lock:
            if not self._running:
                return
            self._running = False
        self.run_in_loop(self._close_sockets)
        self.handlers.stop()
        for record in self.records:
            detach = getattr(record, "detach", None)
            if detach is not None:
                detach()  # its timers die with this loop
        self.loop.stop()
        self.loop.close()
        self._loop = None
        logger.info("stopped the server on %s:%d", self.host, self.port)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._running

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def client_env(self) -> dict[str, str]:
        """Environment for a CA client (libca, pyepics) that must find only this server."""
        env = {"EPICS_CA_ADDR_LIST": f"{self.host}:{self.port}",
               "EPICS_CA_AUTO_ADDR_LIST": "NO", "EPICS_CA_SERVER_PORT": str(self.port)}
        beacon_address = self.beacon_address
        if beacon_address is not None and beacon_address[1] != DEFAULT_REPEATER_PORT:
            env["EPICS_CA_REPEATER_PORT"] = str(beacon_address[1])
        return env

    @property
    def beacon_address(self) -> tuple[str, int] | None:
        """The first place beacons go (None: no beacons)."""
        return self.beacon_addresses[0] if self.beacon_addresses else None

    @beacon_address.setter
    def beacon_address(self, address: tuple[str, int] | list[tuple[str, int]] | None
                       ) -> None:
        """One (host, port), a list of them (e.g. ``discovery.beacon_destinations``:
        every network, as rsrv), or None (no beacons)."""
        if address is None:
            self.beacon_addresses = []
        elif isinstance(address, list):
            self.beacon_addresses = list(address)
        else:
            self.beacon_addresses = [address]

    @property
    def loop(self) -> EventLoop:
        """The server thread's event loop, while running."""
        if self._loop is None:
            raise RuntimeError(f"{self!r} is not running: it has no event loop")
        return self._loop

    @property
    def discovery(self) -> Discovery | None:
        """The UDP side (searches, beacons) while the server is bound."""
        return self._discovery

    def _bind(self, attempts: int = 50) -> Discovery:
        """Listen on TCP and UDP with the same port number; the new UDP side."""
        fixed = self.port != 0
        for _ in range(1 if fixed else attempts):
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)  # beacons
            try:
                tcp.bind((self.host, self.port))
                udp.bind((self.host, tcp.getsockname()[1]))
            except OSError:
                tcp.close()
                udp.close()
                if fixed:
                    raise
                continue
            break
        else:
            raise OSError(f"found no port free for both TCP and UDP on {self.host}")
        tcp.listen(128)
        tcp.setblocking(False)
        udp.setblocking(False)
        self.port = tcp.getsockname()[1]
        self._listener = tcp
        discovery = self._discovery = Discovery(self, udp)
        discovery.searches = self.searches  # one log across restarts
        self.loop.register(udp, selectors.EVENT_READ, discovery.on_ready)
        self._watch_listener()
        return discovery

    def _watch_listener(self) -> None:
        """Accept circuits, except while paused (the kernel still completes handshakes)."""
        if self._listener is not None:
            events = 0 if self.hooks.paused else selectors.EVENT_READ
            self.loop.watch(self._listener, events, self._accept)

    def refresh_io(self) -> None:
        """The hooks changed: watch the sockets anew and answer what waited (loop thread)."""
        self._watch_listener()
        for connection in list(self.connections):
            connection.update_interest()
            if not self.hooks.paused:
                connection.process_input()
                connection.flush()

    def _accept(self, mask: int) -> None:
        while self._listener is not None:
            try:
                sock, address = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                logger.warning("accept failed: %s", exc)
                return
            connection = Connection(self, sock, address)
            self.connections.add(connection)
            logger.info("new circuit from %s:%d", *address)

    def _close_sockets(self) -> None:
        for connection in list(self.connections):
            connection.close("the server is stopping")
        if self._listener is not None:
            self.loop.unregister(self._listener)
            self._listener.close()
            self._listener = None
        if self._discovery is not None:
            self._discovery.close()
            self._discovery = None

    def restart(self, downtime: float = 0.5, wait: bool = True) -> None:
        """Go away for ``downtime`` seconds and come back on the same port (beacons anew).

        Clients see their circuits close, then find the server again; PVs keep their state.
        """
        if not self._running:
            raise RuntimeError("restart() needs a running server")
        back = threading.Event()
        deadline = time.monotonic() + downtime + 5.0

        def come_back() -> None:
            try:
                discovery = self._bind(attempts=1)
            except OSError as exc:
                if time.monotonic() < deadline:  # the port may take a moment to free up
                    self.loop.call_later(0.05, come_back)
                    return
                logger.error("cannot bind %s:%d again after a restart: %s", self.host,
                             self.port, exc)
                back.set()
                return
            discovery.start_beacons()
            logger.info("restarted on %s:%d", self.host, self.port)
            back.set()

        def go_away() -> None:
            self._close_sockets()
            self.loop.call_later(downtime, come_back)

        self.loop.call_soon(go_away)
        if wait and not self.loop.in_loop_thread():
            back.wait(downtime + 10.0)

    # --- helpers for records, faults and connections --------------------------------------------

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` on the server thread (holding the lock) after ``delay`` s;
        RuntimeError (from ``loop``) when the server is not running."""
        return self.loop.call_later(delay, callback)

    def run_in_loop(self, function: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run ``function`` on the server thread and wait for its result."""
        if self._loop is None or self._loop.in_loop_thread() or not self._loop_alive():
            with self.lock:
                return function()
        done = threading.Event()
        result: list = [None, None]

        def call() -> None:
            try:
                result[0] = function()
            except BaseException as exc:  # handed to the caller below
                result[1] = exc
            finally:
                done.set()

        self.loop.call_soon(call)
        if not done.wait(timeout):
            raise TimeoutError(f"the server thread did not run {function!r} in {timeout} s")
        if result[1] is not None:
            raise result[1]
        return result[0]

    def _loop_alive(self) -> bool:
        thread = self.loop.thread
        return thread is not None and thread.is_alive()

    def new_sid(self) -> int:
        return next(self._sids) & 0xFFFFFFFF

    def subscribe(self, subscription: Subscription) -> None:
        self._subscribers.setdefault(subscription.pv, set()).add(subscription)

    def unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.pv)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[subscription.pv]

    def connection_closed(self, connection: Connection) -> None:
        self.connections.discard(connection)

    # --- what the PVs tell the server (PVObserver) ------------------------------------------

    def pv_changed(self, pv: PV, mask: int) -> None:
        """Send a monitor update to every subscription of ``pv`` whose mask matches."""
        if not self._subscribers.get(pv):
            return
        with self.lock:
            subscribers = self._subscribers.get(pv)
            if not subscribers:
                return
            cache: dict = {}
            version = pv.version
            for subscription in list(subscribers):
                if subscription.mask & mask:
                    subscription.connection.post_event(subscription, cache, version)

    def pv_access_changed(self, pv: PV) -> None:
        with self.lock:
            for connection in list(self.connections):
                connection.access_changed(pv)
