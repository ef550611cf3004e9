"""Newest frame wins: a session's waiting frame is replaced by a newer one, never queued."""
import threading

from live.worker.slots import LatestFrameSlots


def test_a_newer_frame_replaces_the_one_still_waiting():
    slots = LatestFrameSlots()
    assert slots.put(7, "first") is False
    assert slots.put(7, "second") is True
    assert slots.put(7, "third") is True
    assert len(slots) == 1
    assert slots.take(timeout=0) == (7, "third")
    assert slots.take(timeout=0.01) is None
    assert slots.take_counts(7) == (3, 2)          # three offered, two dropped
    assert slots.take_counts(7) == (0, 0)


def test_memory_stays_bounded_and_sessions_take_turns():
    slots = LatestFrameSlots()
    for i in range(1000):
        slots.put("fast camera", i)
    slots.put("slow camera", "only frame")
    for i in range(1000, 1010):
        slots.put("fast camera", i)
    assert len(slots) == 2                          # one frame per session, whatever the rate
    assert slots.take(timeout=0) == ("fast camera", 1009)   # its turn came first, with its newest frame
    assert slots.take(timeout=0) == ("slow camera", "only frame")
    assert slots.take_counts("fast camera") == (1010, 1009)


def test_a_waiting_analyser_wakes_up_for_the_next_frame():
    slots = LatestFrameSlots()
    taken = []
    thread = threading.Thread(target=lambda: taken.append(slots.take(timeout=10)))
    thread.start()
    slots.put(1, "frame")
    thread.join(5)
    assert taken == [(1, "frame")]


def test_the_worker_keeps_only_each_sessions_newest_frame():
    """The worker's channel-layer side: frames that arrive while the model is busy replace each other."""
    from live.worker.service import LiveWorker

    worker = LiveWorker(analyser=object())
    for at in (100.0, 100.25, 100.5, 100.75):
        worker.accept({"type": "live.frame", "session": 3, "at": at, "jpeg": b"\xff\xd8", "client_ms": at * 1000})
    worker.accept({"type": "live.frame", "session": 4, "at": 100.1, "jpeg": b"\xff\xd8"})
    session, frame = worker.slots.take(timeout=0)
    assert (session, frame.wall_time, frame.client_ms) == (3, 100.75, 100750.0)
    assert worker.slots.take(timeout=0)[1].wall_time == 100.1
    assert worker.slots.take_counts(3) == (4, 3)
