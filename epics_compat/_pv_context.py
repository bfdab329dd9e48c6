"""A PV and its CA context: a PV's methods run in the context the PV was made in, and
its callbacks on that context's callback thread."""
from __future__ import annotations

import functools

from . import ca


def ensure_context(method):
    """Run a PV method with the PV's own CA context attached to the calling thread.

    A PV belongs to the context that was current when it was made; a thread attached to
    another context (or to none) is switched over for the call and back afterwards.
    """
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        own = self.context
        if own is None:
            raise RuntimeError(f"PV {getattr(self, 'pvname', '?')!r} has no CA context")
        current = ca._current_context_id()
        if current == own:
            return method(self, *args, **kwargs)
        if current is not None:
            ca.detach_context()
        ca.attach_context(own)
        try:
            return method(self, *args, **kwargs)
        finally:
            if current is not None:
                ca.detach_context()
                ca.attach_context(current)
    return wrapper


def in_callback_thread(context_id) -> bool:
    """Whether the calling thread is the callback thread of a context."""
    try:
        return ca._context_object(context_id).dispatcher.in_dispatch_thread()
    except Exception:
        return False


def settle_callbacks(context_id, timeout: float = 1.0) -> None:
    """Wait until the callbacks of everything received so far have run.

    After a put with wait, the server's monitor update for the new value may already
    be in (often in the same packet as the completion) while its callback is still
    queued: letting the queue drain first makes ``put(x, wait=True); get()`` give x,
    as it does with libca. Whoever received the completion queued the updates that came
    with it before marking it done, so a marker queued now comes after them.
    """
    try:
        dispatcher = ca._context_object(context_id).dispatcher
    except Exception:
        return
    dispatcher.wait_idle(timeout)  # at once on the dispatcher's own thread
