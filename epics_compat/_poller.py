"""What an event loop watches: sockets, each with the events wanted and a handler.

A socket may stay registered with no event wanted ("quiet"): the client's circuits go
quiet while a caller thread receives its own reply, at every get and put. On Linux that
is one ``epoll_ctl(MOD)`` each way, where the ``selectors`` module, which cannot keep a
socket registered with no event, needs a DEL and an ADD (with its own bookkeeping, about
four times the cost). Elsewhere ``selectors`` does the work and quiet sockets are left out
of it.
"""
from __future__ import annotations

import select
import selectors
import socket
from typing import Callable

Handler = Callable[[int], None]  # called with the selectors.EVENT_* mask that is ready

READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


class _Entry:
    __slots__ = ("sock", "fd", "events", "handler")

    def __init__(self, sock: socket.socket, fd: int, events: int, handler: Handler):
        self.sock = sock
        self.fd = fd
        self.events = events
        self.handler = handler


class _Poller:
    """The part common to both kinds: the registered sockets, by file descriptor."""

    def __init__(self) -> None:
        self._entries: dict[int, _Entry] = {}

    def events_of(self, sock: socket.socket) -> int | None:
        """The events wanted on ``sock`` (0: quiet), or None if it is not registered."""
        entry = self._entry_of(sock)
        return None if entry is None else entry.events

    def add(self, sock: socket.socket, events: int, handler: Handler) -> None:
        fd = sock.fileno()
        if fd < 0:
            raise ValueError("closed socket")
        if fd in self._entries:
            raise KeyError(f"file descriptor {fd} is registered already")
        entry = _Entry(sock, fd, events, handler)
        self._watch(entry, None)
        self._entries[fd] = entry

    def change(self, sock: socket.socket, events: int, handler: Handler) -> None:
        """Change what is wanted on a registered ``sock`` (0: nothing, but it stays)."""
        entry = self._entry_of(sock)
        if entry is None:
            raise KeyError(f"{sock!r} is not registered")
        before, entry.events, entry.handler = entry.events, events, handler
        if events != before:
            self._watch(entry, before)

    def remove(self, sock: socket.socket) -> None:
        """Forget ``sock`` (nothing happens if it is not registered)."""
        entry = self._entry_of(sock)
        if entry is not None:
            del self._entries[entry.fd]
            self._forget(entry)

    def ready(self, timeout: float | None) -> list[tuple[_Entry, int]]:
        """(entry, events ready among those wanted) for each socket with some."""
        raise NotImplementedError

    def current(self, entry: _Entry) -> _Entry | None:
        """``entry`` as registered now (handlers of one round may change others')."""
        now = self._entries.get(entry.fd)
        return now if now is not None and now.sock is entry.sock else None

    def close(self) -> None:
        self._entries.clear()

    def _entry_of(self, sock: socket.socket) -> _Entry | None:
        entry = self._entries.get(sock.fileno())
        if entry is not None and entry.sock is sock:
            return entry
        # Closed already (fileno -1) or its number reused: look for the object itself.
        for entry in self._entries.values():
            if entry.sock is sock:
                return entry
        return None

    def _watch(self, entry: _Entry, before: int | None) -> None:
        raise NotImplementedError

    def _forget(self, entry: _Entry) -> None:
        raise NotImplementedError


class EpollPoller(_Poller):
    """Linux: the kernel keeps quiet sockets registered with an empty mask."""

    def __init__(self) -> None:
        super().__init__()
        self._epoll = select.epoll()

    def ready(self, timeout: float | None) -> list[tuple[_Entry, int]]:
        found = self._epoll.poll(-1 if timeout is None else timeout)
        entries = self._entries
        out = []
        for fd, flags in found:
            entry = entries.get(fd)
            if entry is None:
                continue
            # As selectors does: an error or hang-up makes both directions ready.
            events = 0
            if flags & ~select.EPOLLOUT:
                events |= READ
            if flags & ~select.EPOLLIN:
                events |= WRITE
            events &= entry.events
            if events:  # a quiet socket's error is for the thread reading it
                out.append((entry, events))
        return out

    def close(self) -> None:
        super().close()
        self._epoll.close()

    def _watch(self, entry: _Entry, before: int | None) -> None:
        mask = (select.EPOLLIN if entry.events & READ else 0) | \
            (select.EPOLLOUT if entry.events & WRITE else 0)
        if before is None:
            self._epoll.register(entry.fd, mask)
        else:
            self._epoll.modify(entry.fd, mask)

    def _forget(self, entry: _Entry) -> None:
        try:
            self._epoll.unregister(entry.fd)
        except (OSError, ValueError):
            pass  # closed already: the kernel dropped it with the descriptor


class SelectorPoller(_Poller):
    """Elsewhere: ``selectors``, which sees only the sockets that want something."""

    def __init__(self) -> None:
        super().__init__()
        self._selector = selectors.DefaultSelector()

    def ready(self, timeout: float | None) -> list[tuple[_Entry, int]]:
        return [(key.data, mask & key.data.events)
                for key, mask in self._selector.select(timeout)]

    def close(self) -> None:
        super().close()
        self._selector.close()

    def _watch(self, entry: _Entry, before: int | None) -> None:
        if not before:
            if entry.events:
                self._selector.register(entry.sock, entry.events, entry)
        elif not entry.events:
            self._selector.unregister(entry.sock)
        else:
            self._selector.modify(entry.sock, entry.events, entry)

    def _forget(self, entry: _Entry) -> None:
        if entry.events:
            try:
                self._selector.unregister(entry.sock)
            except (KeyError, ValueError):
                pass


def new_poller() -> _Poller:
    return EpollPoller() if hasattr(select, "epoll") else SelectorPoller()
