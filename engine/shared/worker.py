"""A thread of this process that works, off the committing threads, for the databases commits asked."""
import os
import threading
import time


class ProcessWorker:
    """One thread per process does ``work()`` for the databases asked since its last turn.

    Asking costs a set and an event, so a postcommit can ask; the asks of commits in a row are done in
    one turn. Subclasses name the thread and say what a turn does.
    """

    name = 'bj_api_sync.worker'
    # Seconds a turn waits for the asks that follow the one that woke it.
    gather_seconds = 0.0

    def __init__(self):
        self._lock = threading.Lock()
        self._asked = set()
        self._event = threading.Event()
        self._thread = None
        self._pid = None

    def ask(self, dbname):
        with self._lock:
            self._asked.add(dbname)
            # A forked worker inherits no running thread: it starts its own.
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
        self._event.set()

    def started(self):
        """Set up the new thread's own state, before its first turn."""

    def work(self, dbnames):
        """One turn, for the databases ``dbnames`` (sorted)."""
        raise NotImplementedError

    def _run(self):
        self.started()
        while True:
            self._event.wait()
            if self.gather_seconds:
                time.sleep(self.gather_seconds)
            self._event.clear()
            with self._lock:
                asked, self._asked = self._asked, set()
            self.work(sorted(asked))
