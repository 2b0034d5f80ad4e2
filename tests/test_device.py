"""Unit tests for helpers.device: device choice, seeding, fixed noise."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from helpers import device as dev
from helpers.device import DEVICE_ENV, choose_cpu_threads, fixed_noise, get_device, set_seed


@pytest.fixture
def machine(monkeypatch):
    """Pretend to be a machine with the given accelerators; no env override."""
    monkeypatch.delenv(DEVICE_ENV, raising=False)

    def configure(*, cuda: bool, mps: bool, cuda_count: int = 1):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda_count if cuda else 0)
        monkeypatch.setattr(dev, "_mps_available", lambda: mps)

    return configure


# --- automatic choice -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cuda, mps, expected",
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_get_device_falls_back_cuda_then_mps_then_cpu(machine, cuda, mps, expected):
    machine(cuda=cuda, mps=mps)
    assert get_device() == torch.device(expected)


def test_empty_env_var_means_automatic_choice(machine, monkeypatch):
    machine(cuda=False, mps=False)
    monkeypatch.setenv(DEVICE_ENV, "")
    assert get_device() == torch.device("cpu")


# --- explicit choice -------------------------------------------------------------------------


def test_env_override_cpu_wins_over_available_gpu(machine, monkeypatch):
    machine(cuda=True, mps=True)
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert get_device() == torch.device("cpu")


@pytest.mark.parametrize("value, expected", [("cuda", "cuda"), (" CUDA:0 ", "cuda:0"), ("mps", "mps")])
def test_env_override_selects_available_accelerator(machine, monkeypatch, value, expected):
    machine(cuda=True, mps=True)
    monkeypatch.setenv(DEVICE_ENV, value)
    assert get_device() == torch.device(expected)


def test_argument_wins_over_env_var(machine, monkeypatch):
    machine(cuda=True, mps=False)
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    assert get_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("via_env", [False, True])
def test_unknown_device_name_raises_and_says_what_to_use(machine, monkeypatch, via_env):
    machine(cuda=False, mps=False)
    if via_env:
        monkeypatch.setenv(DEVICE_ENV, "tpu")
    with pytest.raises(ValueError) as info:
        get_device(None if via_env else "tpu")
    message = str(info.value)
    assert "'tpu'" in message
    assert "'cpu'" in message and DEVICE_ENV in message
    if via_env:
        assert DEVICE_ENV in message.split("from")[1]  # says where the bad value came from


def test_unavailable_cuda_raises_and_suggests_cpu(machine, monkeypatch):
    machine(cuda=False, mps=True)
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    with pytest.raises(ValueError) as info:
        get_device()
    message = str(info.value)
    assert "CUDA" in message and "'cpu'" in message and DEVICE_ENV in message


def test_cuda_index_beyond_device_count_raises(machine):
    machine(cuda=True, mps=False, cuda_count=1)
    with pytest.raises(ValueError, match="1 CUDA device"):
        get_device("cuda:1")


def test_unavailable_mps_raises_and_suggests_cpu(machine):
    machine(cuda=True, mps=False)
    with pytest.raises(ValueError) as info:
        get_device("mps")
    message = str(info.value)
    assert "MPS" in message and "'cpu'" in message and DEVICE_ENV in message


def test_malformed_device_index_raises_value_error(machine):
    machine(cuda=True, mps=False)
    with pytest.raises(ValueError, match=DEVICE_ENV):
        get_device("cuda:x")


def test_verbose_prints_the_choice_and_reason(machine, monkeypatch, capsys):
    machine(cuda=False, mps=False)
    get_device(verbose=True)
    assert capsys.readouterr().out.strip() == "Device: cpu (no GPU found)"
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    get_device(verbose=True)
    out = capsys.readouterr().out
    assert "Device: cpu" in out and DEVICE_ENV in out


def test_quiet_by_default(machine, capsys):
    machine(cuda=False, mps=False)
    get_device()
    assert capsys.readouterr().out == ""


# --- set_seed -------------------------------------------------------------------------------------


def _draw():
    return torch.rand(5), random.random(), np.random.rand(3)


def test_set_seed_makes_every_rng_reproducible():
    set_seed(123)
    first = _draw()
    set_seed(123)
    second = _draw()
    assert torch.equal(first[0], second[0])
    assert first[1] == second[1]
    np.testing.assert_array_equal(first[2], second[2])
    set_seed(124)
    third = _draw()
    assert not torch.equal(first[0], third[0])
    assert first[1] != third[1]


def test_set_seed_returns_generator_seeded_with_the_same_value():
    generator = set_seed(7)
    expected = torch.rand(4, generator=torch.Generator().manual_seed(7))
    assert torch.equal(torch.rand(4, generator=generator), expected)


def test_set_seed_accepts_numpy_integer():
    set_seed(np.int64(5))
    a = torch.rand(3)
    set_seed(5)
    assert torch.equal(a, torch.rand(3))


@pytest.mark.parametrize("seed", [1.5, "42", None, True])
def test_set_seed_rejects_non_int(seed):
    with pytest.raises(TypeError, match="seed must be an int"):
        set_seed(seed)


# --- fixed_noise ----------------------------------------------------------------------------------


def test_fixed_noise_same_every_call_and_shape():
    a = fixed_noise((4, 3), seed=1)
    b = fixed_noise((4, 3), seed=1)
    assert a.shape == (4, 3) and a.dtype == torch.float32 and a.device.type == "cpu"
    assert torch.equal(a, b)
    assert not torch.equal(a, fixed_noise((4, 3), seed=2))
    assert torch.equal(a, torch.randn(4, 3, generator=torch.Generator().manual_seed(1)))


def test_fixed_noise_int_shape():
    assert fixed_noise(6).shape == (6,)


def test_fixed_noise_does_not_touch_global_rng():
    torch.manual_seed(0)
    state = torch.get_rng_state()
    fixed_noise((16, 8), seed=3)
    assert torch.equal(torch.get_rng_state(), state)


# --- choose_cpu_threads ---------------------------------------------------------------------------
# A lesson's first cell calls it before PyTorch is imported (the unit tests pass the environment and the machine).


def test_cpu_threads_on_a_two_core_laptop_one_thread_that_sleeps_when_idle(capsys):
    env = {}
    choice = choose_cpu_threads(env, cores=2, gpu=None, torch_imported=False)
    assert env == {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}
    assert choice.threads == 1 and choice.environment == env
    printed = capsys.readouterr().out
    assert printed.startswith("CPU threads: 1 of 2 cores") and "OMP_WAIT_POLICY=PASSIVE" in printed


@pytest.mark.parametrize(("cores", "threads"), [(1, 1), (4, 2), (8, 4), (16, 8)])
def test_cpu_threads_half_the_cores(cores, threads):
    env = {}
    assert choose_cpu_threads(env, cores=cores, gpu=None, torch_imported=False, verbose=False).threads == threads
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == str(threads)


def test_cpu_threads_keeps_a_wait_policy_you_set():
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    choose_cpu_threads(env, cores=2, gpu=None, torch_imported=False, verbose=False)
    assert env["OMP_WAIT_POLICY"] == "ACTIVE" and env["OMP_NUM_THREADS"] == "1"


@pytest.mark.parametrize("name", ["OMP_NUM_THREADS", "MKL_NUM_THREADS"])
def test_cpu_threads_keeps_a_thread_count_you_set(name, capsys):
    env = {name: "3"}
    choice = choose_cpu_threads(env, cores=2, gpu=None, torch_imported=False)
    assert env == {name: "3"} and choice.threads is None
    assert f"{name}=3, set before Jupyter started: kept" in capsys.readouterr().out


def test_cpu_threads_too_late_once_torch_is_imported(capsys):
    env = {}
    choice = choose_cpu_threads(env, cores=2, gpu=None, torch_imported=True)
    assert env == {} and choice.threads is None
    assert "restart the kernel" in capsys.readouterr().out


def test_cpu_threads_left_alone_on_a_gpu_unless_the_cpu_is_asked_for():
    env = {}
    assert choose_cpu_threads(env, cores=8, gpu="an NVIDIA GPU", torch_imported=False, verbose=False).threads is None
    assert env == {}
    env = {DEVICE_ENV: "mps"}
    assert choose_cpu_threads(env, cores=8, gpu=None, torch_imported=False, verbose=False).threads is None
    env = {DEVICE_ENV: "cpu"}
    assert choose_cpu_threads(env, cores=8, gpu="an NVIDIA GPU", torch_imported=False, verbose=False).threads == 4
    assert env["OMP_NUM_THREADS"] == "4"


def test_a_first_cell_sets_pytorchs_threads_before_it_starts_them():
    """In a fresh interpreter, as in a student's kernel: importing helpers.device does not import PyTorch, and the
    choice made before ``import torch`` is the thread count PyTorch then runs with."""
    import os
    import subprocess
    import sys

    code = (
        "import sys; from helpers.device import choose_cpu_threads; assert 'torch' not in sys.modules\n"
        "choice = choose_cpu_threads(gpu=None, verbose=False)\n"
        "import torch; print(choice.threads, torch.get_num_threads())"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", DEVICE_ENV)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    chosen, used = out.stdout.split()
    assert chosen == used == str(max(1, dev._cpu_cores() // 2))
