"""The CPU kernels' threads: work items of one call spread over a few resident threads and the calling thread.

Each CPU kernel is one serial Numba function over a range of work items
(chunks or partitions whose count the shapes fix) that releases the GIL
(``nogil``); :func:`run_items` lets the threads take the items a range at a time,
each range a share of what is left (large first, small at the end: few grabs,
and the threads finish together), so a thread whose core is shared with
another process, or that is slow to wake, takes less instead of holding up the
call.
Results never depend on the threads: every item writes its own slot, and the
launcher sums the slots in item order afterwards.

Why not Numba's ``prange``: a parallel build compiles, on top of the serial
one, 1.3-2.6 s more per kernel and dtype signature (its parallel-loop passes),
and its threading layers need care (TBB to balance load, a lock around the
workqueue layer, which aborts on concurrent launches). Threads of our own run
the same compiled serial code, so each kernel compiles once per signature.
"""
import os
import queue
import threading

import numba

#: the fewest elements a call gives each thread: waking a resident thread takes 0.1-0.3 ms on a 2-core VM, about
#: what one thread needs for 2**17-2**18 float32 elements of MSE, so smaller calls run in the calling thread alone
#: (and a 1e7-element call on 16 cores still uses all 16; bench/README.md, "CPU threads of our own").
ELEMENTS_PER_THREAD = 1 << 17
#: each grab takes ``1 / (GRAB_SHARE * threads)`` of the items left, so the last ranges are short and a slow thread
#: holds up the call by little (a fixed cut of 4 ranges per thread left MSE over 1e7 on 2 cores 15-25% behind TBB's
#: work stealing whenever one of this VM's vCPUs ran at ~60% of the other's speed).
GRAB_SHARE = 2
#: the fewest elements a grab takes (bar the last): one grab costs a lock and a kernel call, a few µs.
ELEMENTS_PER_GRAB = 1 << 16


def thread_count():
    """Threads a large call may use: ``NUMBA_NUM_THREADS`` (Numba's setting, the machine's CPU count unless set),
    at most the CPUs this process may run on."""
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(numba.config.NUMBA_NUM_THREADS, allowed))


class _Call:
    """The items of one call: taken a range at a time by whichever thread asks first; the first error is kept."""

    __slots__ = ("fn", "args", "items", "share", "least", "next", "running", "error", "lock", "idle")

    def __init__(self, fn, args, items, share, least):
        self.fn, self.args, self.items, self.share, self.least = fn, args, items, share, least
        self.next = 0
        self.running = 0
        self.error = None
        self.lock = threading.Lock()
        self.idle = threading.Condition(self.lock)

    def work(self):
        """Run ranges of items until none is left (or one has failed)."""
        while True:
            with self.lock:
                left = self.items - self.next
                if left == 0 or self.error is not None:
                    return
                lo = self.next
                self.next += min(left, max(self.least, -(-left // self.share)))
                hi = self.next
                self.running += 1
            try:
                self.fn(lo, hi, *self.args)
            except BaseException as error:  # raised again in the calling thread
                with self.lock:
                    self.error = self.error or error
            finally:
                with self.lock:
                    self.running -= 1
                    if self.running == 0:
                        self.idle.notify_all()

    def wait(self):
        """Once the caller has run out of tasks: wait for the tasks other threads still run, then raise any error."""
        with self.lock:
            while self.running:
                self.idle.wait()
        if self.error is not None:
            raise self.error


class Workers:
    """Resident daemon threads that help the calling thread with the tasks of its calls (any number of calls, from
    any threads, at once: a caller never waits for a task that no thread has started, so calls cannot deadlock)."""

    def __init__(self):
        self._reset()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self):
        """No threads yet (and, in a forked child, none of the parent's, which did not survive the fork)."""
        self._inbox = queue.SimpleQueue()
        self._threads = []
        self._lock = threading.Lock()

    def _serve(self, inbox):
        while True:
            inbox.get().work()

    def _ensure(self, helpers):
        """At least ``helpers`` threads, started on first need."""
        with self._lock:
            while len(self._threads) < helpers:
                thread = threading.Thread(target=self._serve, args=(self._inbox,), name="gpumetrics-cpu",
                                          daemon=True)
                thread.start()
                self._threads.append(thread)

    def run(self, fn, items, args, threads, least):
        """``fn(lo, hi, *args)`` over consecutive ranges covering ``range(items)``, on ``threads`` threads (the caller
        and ``threads - 1`` helpers), each range at least ``least`` items (bar the last)."""
        call = _Call(fn, args, items, GRAB_SHARE * threads, least)
        helpers = min(threads, items) - 1
        if helpers > 0:
            self._ensure(helpers)
            for _ in range(helpers):
                self._inbox.put(call)
        call.work()
        call.wait()


_WORKERS = Workers()


def alone(elements):
    """Whether a call over ``elements`` elements runs in the calling thread alone (``run_items``'s rule); a launcher
    may then let its one task finish the call as well (one kernel call where a threaded call makes two)."""
    return elements < 2 * ELEMENTS_PER_THREAD


def run_items(fn, items, *args, elements):
    """``fn(lo, hi, *args)`` over work items ``0:items`` (reading ``elements`` elements in all): spread over
    :func:`thread_count` threads, fewer where a thread would get under :data:`ELEMENTS_PER_THREAD` elements; in this
    thread alone (no thread to wake or to wait for) below twice that."""
    threads = 1 if alone(elements) else min(thread_count(), elements // ELEMENTS_PER_THREAD)
    if threads == 1 or items == 1:
        fn(0, items, *args)
        return
    _WORKERS.run(fn, items, args, threads, max(1, ELEMENTS_PER_GRAB * items // elements))
