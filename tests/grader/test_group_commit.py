"""GroupCommit (grader/api/group_commit.py): threads that submit while a write is under way
are written together, each gets its own outcome, and a failed batch costs nobody their
grade. The writes here are fakes that record what they were given; the grading API's use of
it, on a real database, is tested in test_api_concurrency.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import pytest

from grader.api.group_commit import GroupCommit


class Recorder:
    """Fake writes: an item's outcome is `item * 10`; `hold` keeps the first write (alone)
    waiting until released, so that the others queue up behind it."""

    def __init__(self, fail_batches: bool = False, refuse: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.alone: list[int] = []
        self.hold = threading.Event()
        self.fail_batches = fail_batches
        self.refuse = refuse
        self.lock = threading.Lock()

    def write(self, items: Sequence[int]) -> list[int]:
        with self.lock:
            self.batches.append(list(items))
        if self.fail_batches:
            raise RuntimeError("the batch's statement failed")
        return [item * 10 for item in items]

    def write_one(self, item: int) -> int:
        with self.lock:
            first = not self.alone
            self.alone.append(item)
        if first:
            assert self.hold.wait(timeout=30)
        if item == self.refuse:
            raise ValueError(f"item {item} is refused")
        return item * 10


def run_queued(group: GroupCommit, recorder: Recorder, items: list[int],
               ) -> dict[int, object]:
    """Submit items[0] (which writes alone and is held), then the rest while it is held;
    release it once they all wait. Each item's outcome, or the exception it raised."""
    outcomes: dict[int, object] = {}

    def submit(item: int) -> None:
        try:
            outcomes[item] = group.submit(item)
        except Exception as err:  # noqa: BLE001 - the test looks at it
            outcomes[item] = err

    first = threading.Thread(target=submit, args=(items[0],))
    first.start()
    wait_for(lambda: recorder.alone == [items[0]])
    others = [threading.Thread(target=submit, args=(item,)) for item in items[1:]]
    for thread in others:
        thread.start()
    wait_for(lambda: len(group._waiting) == len(items) - 1)
    recorder.hold.set()
    for thread in [first, *others]:
        thread.join(timeout=30)
        assert not thread.is_alive()
    return outcomes


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_a_lone_submit_is_written_at_once_alone():
    recorder = Recorder()
    recorder.hold.set()
    group = GroupCommit(recorder.write, recorder.write_one)
    assert group.submit(4) == 40
    assert group.submit(5) == 50
    assert recorder.alone == [4, 5] and recorder.batches == []


def test_submits_during_a_write_go_together_in_one_batch():
    recorder = Recorder()
    group = GroupCommit(recorder.write, recorder.write_one)
    items = list(range(1, 10))
    outcomes = run_queued(group, recorder, items)
    assert outcomes == {item: item * 10 for item in items}  # each its own
    assert recorder.alone == [1]
    assert [sorted(batch) for batch in recorder.batches] == [items[1:]]
    assert group._leading is False and group._waiting == []  # free for the next


def test_a_batch_holds_at_most_max_batch_items():
    recorder = Recorder()
    group = GroupCommit(recorder.write, recorder.write_one, max_batch=3)
    outcomes = run_queued(group, recorder, list(range(1, 9)))
    assert outcomes == {item: item * 10 for item in range(1, 9)}
    assert [len(batch) for batch in recorder.batches] == [3, 3, 1]
    assert sorted(i for batch in recorder.batches for i in batch) == list(range(2, 9))


def test_a_failed_batch_makes_each_write_its_own_and_only_the_bad_one_fails():
    recorder = Recorder(fail_batches=True, refuse=6)
    group = GroupCommit(recorder.write, recorder.write_one)
    outcomes = run_queued(group, recorder, list(range(1, 9)))
    assert isinstance(outcomes.pop(6), ValueError)
    assert outcomes == {item: item * 10 for item in range(1, 9) if item != 6}
    assert len(recorder.batches) == 1
    assert sorted(recorder.alone) == list(range(1, 9))  # the first, then each of the batch


def test_a_batch_with_outcomes_that_do_not_match_its_items_is_written_again_alone():
    recorder = Recorder()
    group = GroupCommit(lambda items: [0], recorder.write_one)
    outcomes = run_queued(group, recorder, [1, 2, 3])
    assert outcomes == {1: 10, 2: 20, 3: 30}
    assert sorted(recorder.alone) == [1, 2, 3]


def test_a_leader_interrupted_mid_write_leaves_nobody_waiting():
    recorder = Recorder()

    def interrupted(items: Sequence[int]) -> list[int]:
        raise KeyboardInterrupt  # a BaseException: gunicorn's worker timeout raises one

    group = GroupCommit(interrupted, recorder.write_one)
    outcomes: dict[int, object] = {}

    def submit(item: int) -> None:
        try:
            outcomes[item] = group.submit(item)
        except BaseException as err:  # noqa: BLE001 - the test looks at it
            outcomes[item] = err

    first = threading.Thread(target=submit, args=(1,))
    first.start()
    wait_for(lambda: recorder.alone == [1])
    others = [threading.Thread(target=submit, args=(n,)) for n in (2, 3, 4)]
    for thread in others:
        thread.start()
    wait_for(lambda: len(group._waiting) == 3)
    recorder.hold.set()
    for thread in [first, *others]:
        thread.join(timeout=30)
        assert not thread.is_alive()
    leaders = [n for n, outcome in outcomes.items() if isinstance(outcome, KeyboardInterrupt)]
    assert len(leaders) == 1  # the batch's leader saw its interruption...
    assert {n: o for n, o in outcomes.items() if n not in leaders} == {
        n: n * 10 for n in (1, 2, 3, 4) if n not in leaders}  # ...the others wrote alone
    assert group._leading is False


@pytest.mark.parametrize("count", [2, 16])
def test_many_threads_at_once_each_get_their_own_outcome(count):
    """No holding: whatever batches form by themselves, every item is written once."""
    lock = threading.Lock()
    written: list[int] = []

    def write(items: Sequence[int]) -> list[int]:
        with lock:
            written.extend(items)
        time.sleep(0.001)
        return [item * 10 for item in items]

    def write_one(item: int) -> int:
        return write([item])[0]

    group = GroupCommit(write, write_one, max_batch=4)
    barrier = threading.Barrier(count)
    outcomes: dict[int, int] = {}

    def submit(item: int) -> None:
        barrier.wait(timeout=30)
        for n in range(20):
            outcomes[item * 100 + n] = group.submit(item * 100 + n)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes == {item: item * 10 for item in outcomes} and len(outcomes) == 20 * count
    assert sorted(written) == sorted(outcomes)
