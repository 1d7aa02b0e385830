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
