"""tools/bench.py: which child processes count towards a notebook's peak memory."""

import os
import pathlib
import subprocess
import sys
import time

import psutil
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tools"))
import bench  # noqa: E402

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def test_a_forked_child_that_has_not_exec_ed_is_not_counted_twice():
    pid = os.fork()
    if pid == 0:   # the child: the parent's memory, no exec
        time.sleep(2)
        os._exit(0)
    try:
        time.sleep(0.2)
        me, child = psutil.Process(), psutil.Process(pid)
        assert not bench.has_own_memory(child, me)
    finally:
        os.waitpid(pid, 0)


def test_a_child_that_ran_another_program_is_counted():
    child = subprocess.Popen(["sleep", "2"])
    try:
        time.sleep(0.2)
        assert bench.has_own_memory(psutil.Process(child.pid), psutil.Process())
    finally:
        child.kill()
        child.wait()


def test_a_child_that_has_gone_is_not_counted():
    child = subprocess.Popen(["sleep", "0.3"])
    proc = psutil.Process(child.pid)
    child.wait()
    assert not bench.has_own_memory(proc, psutil.Process())


def test_children_are_found_without_scanning_every_process():
    """bench._children reads /proc/PID/task/*/children; it must find what psutil's full scan finds, grandchildren
    included."""
    child = subprocess.Popen(["bash", "-c", "sleep 3 & sleep 3; wait"])
    try:
        time.sleep(0.3)
        me = psutil.Process()
        assert sorted(c.pid for c in bench._children(me)) == sorted(c.pid for c in me.children(recursive=True))
        assert len(bench._children(me)) >= 2   # bash and its sleeps
    finally:
        child.kill()
        child.wait()
