"""Unit tests for helpers.profiles: which run profile is active and why."""

from __future__ import annotations

import pytest
import torch

from helpers.profiles import AUTOMATION_VARS, PROFILE_ENV, Profile, get_profile


@pytest.mark.parametrize(
    "value, expected",
    [("quick", "quick"), ("full", "full"), ("QUICK", "quick"), (" Full ", "full"), ("cpu", "cpu"), ("CPU", "cpu")],
)
def test_gan_profile_chooses_case_insensitively(value, expected):
    profile = get_profile({PROFILE_ENV: value})
    assert profile.name == expected
    assert profile.quick == (expected == "quick")
    assert PROFILE_ENV in profile.reason


@pytest.mark.parametrize("automation", AUTOMATION_VARS)
def test_gan_profile_full_wins_over_automation(automation):
    assert get_profile({PROFILE_ENV: "full", automation: "1"}).name == "full"


@pytest.mark.parametrize("value", ["fast", "1", "quickly"])
def test_invalid_profile_raises_naming_the_variable(value):
    with pytest.raises(ValueError) as info:
        get_profile({PROFILE_ENV: value})
    message = str(info.value)
    assert PROFILE_ENV in message and repr(value) in message
    assert "'quick'" in message and "'full'" in message and "'cpu'" in message


@pytest.mark.parametrize("var", ["NBGRADER_EXECUTION", "CI", "NBVAL"])
@pytest.mark.parametrize("value", ["1", "true", "autograde", "yes"])
def test_automation_vars_make_it_quick(var, value):
    profile = get_profile({var: value})
    assert profile.name == "quick" and profile.quick
    assert var in profile.reason


@pytest.mark.parametrize("var", ["NBGRADER_EXECUTION", "CI", "NBVAL"])
@pytest.mark.parametrize("value", ["0", "false", "FALSE", "no", "off", "", "  "])
def test_falsy_automation_vars_do_not_make_it_quick(var, value):
    assert get_profile({var: value}, device="cuda").name == "full"
    assert get_profile({var: value}, device="cpu").name == "cpu"


def test_empty_gan_profile_is_ignored():
    assert get_profile({PROFILE_ENV: "", "CI": "1"}).name == "quick"
    assert get_profile({PROFILE_ENV: " "}, device="cpu").name == "cpu"


@pytest.mark.parametrize(
    "device, expected",
    [
        ("cuda", "full"),
        (torch.device("cuda", 1), "full"),
        ("mps", "full"),
        ("cpu", "cpu"),
        (torch.device("cpu"), "cpu"),
    ],
)
def test_a_student_at_jupyter_gets_full_on_a_gpu_and_cpu_otherwise(device, expected):
    profile = get_profile({}, device=device)
    assert profile.name == expected and not profile.quick
    assert PROFILE_ENV in profile.reason  # tells the student how to change it
    assert ("GPU" in profile.reason) and (expected in profile.describe())


def test_without_a_device_the_profile_asks_get_device(monkeypatch):
    """What a lesson's setup cell gets on this machine: the device get_device picks decides the profile."""
    from helpers.device import DEVICE_ENV

    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert get_profile({}).name == "cpu"


def test_pick_gives_the_cpu_value_and_falls_back_to_full():
    cpu = Profile("cpu", "r")
    assert cpu.pick(quick=1, cpu=2, full=3) == 2 and not cpu.quick
    assert cpu.pick(quick=1, full=3) == 3  # a lesson whose full run is already CPU-sized
    assert cpu.pick(quick=1, cpu=None, full=3) is None  # None is a value, not "missing"
    assert Profile("full", "r").pick(quick=1, cpu=2, full=3) == 3
    assert Profile("quick", "r").pick(quick=1, cpu=2, full=3) == 1


def test_reads_os_environ_by_default(monkeypatch):
    monkeypatch.setenv(PROFILE_ENV, "quick")
    assert get_profile().name == "quick"
    monkeypatch.setenv(PROFILE_ENV, "full")
    assert get_profile().name == "full"


def test_pick_and_str():
    quick_cfg, full_cfg = {"num_steps": 10}, {"num_steps": 1000}
    assert Profile("quick", "r").pick(quick=quick_cfg, full=full_cfg) is quick_cfg
    assert Profile("full", "r").pick(quick=quick_cfg, full=full_cfg) is full_cfg
    assert str(Profile("quick", "because")) == "quick (because)"
    assert str(Profile("quick", "because", grading=True)) == "quick, grading tier (because)"  # says which runs are used


def test_automated_by_names_the_variable_or_none():
    from helpers.profiles import automated_by

    assert automated_by({}) is None
    assert automated_by({"CI": "true"}) == "CI"
    assert automated_by({"NBGRADER_EXECUTION": "autograde"}) == "NBGRADER_EXECUTION"
    assert automated_by({"NBVAL": "0", "CI": "false"}) is None


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"NBGRADER_EXECUTION": "autograde"}, "grading"),
        ({"NBGRADER_EXECUTION": "validate", PROFILE_ENV: "quick"}, "grading"),
        ({"NBGRADER_EXECUTION": "autograde", PROFILE_ENV: "full"}, "full"),
        ({"CI": "1"}, "quick"),
        ({"NBVAL": "1"}, "quick"),
        ({}, "full"),
    ],
)
def test_pick_uses_the_grading_value_only_under_nbgrader(env, expected):
    assert get_profile(env, device="cuda").pick(quick="quick", full="full", grading="grading") == expected


def test_pick_falls_back_to_quick_under_nbgrader_without_a_grading_value():
    assert get_profile({"NBGRADER_EXECUTION": "autograde"}).pick(quick=1, full=2) == 1


def test_gan_profile_grading_is_the_quick_profile_at_its_grading_tier():
    profile = get_profile({PROFILE_ENV: "grading"})
    assert profile.quick and profile.grading and PROFILE_ENV in profile.reason
    assert profile.pick(quick="quick", full="full", grading="grading") == "grading"
    assert profile.pick(quick="quick", full="full") == "quick"


@pytest.mark.parametrize(
    "environ, watched, offline",
    [
        ({PROFILE_ENV: "cpu"}, True, None),
        ({PROFILE_ENV: "quick"}, True, None),
        ({PROFILE_ENV: "grading"}, True, None),  # the browser test: a person's view, smallest runs
        ({"NBGRADER_EXECUTION": "autograde"}, False, "nbgrader is grading"),
        ({"CI": "true", PROFILE_ENV: "full"}, False, "CI"),
        ({"NBVAL": "1"}, False, "NBVAL"),
        ({"GAN_COURSE_OFFLINE": "1"}, True, "GAN_COURSE_OFFLINE"),
    ],
)
def test_the_profile_says_who_is_watching_and_why_downloads_are_off(environ, watched, offline):
    profile = get_profile(environ)
    assert profile.watched is watched
    if offline is None:
        assert profile.offline is None and "downloads allowed" in profile.describe()
    else:
        assert offline in profile.offline and offline in profile.describe()
