"""Unit tests for helpers.checks.core: the checks behind the autograded test cells."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

from helpers.checks.core import (
    GradingError,
    call,
    call_on_meta,
    changed_parameters,
    check_against_reference,
    check_number,
    check_tensor,
    compare,
    max_difference,
    parameters_of,
    require_grad_flow,
)


def test_grading_error_is_an_assertion_error():
    assert issubclass(GradingError, AssertionError)  # nbgrader marks the cell as failed


# --- check_tensor --------------------------------------------------------------------------------


def test_check_tensor_returns_a_good_tensor():
    t = torch.zeros(2, 3)
    assert check_tensor(t, name="x", shape=(2, 3), dtype=torch.float32, device="cpu") is t
    assert check_tensor(t, name="x", shape=torch.Size([2, 3]), dtype="float") is t
    assert check_tensor(torch.zeros(2, dtype=torch.int32), name="x", dtype="int") is not None


@pytest.mark.parametrize(
    "value, described", [(0.5, "a Python float (0.5)"), (3, "a Python int (3)"), (True, "a bool (True)")]
)
def test_check_tensor_number_hints_at_item(value, described):
    with pytest.raises(GradingError) as info:
        check_tensor(value, name="loss_fn(x)")
    message = str(info.value)
    assert message.startswith(f"loss_fn(x) returned {described}")
    assert "torch.Tensor is expected" in message and "not `.item()`" in message


def test_check_tensor_numpy_array():
    with pytest.raises(GradingError) as info:
        check_tensor(np.zeros((2, 3)), name="f()")
    message = str(info.value)
    assert "NumPy array of shape (2, 3)" in message and "torch.as_tensor" in message
    assert ".item()" not in message


def test_check_tensor_none_says_forgot_return():
    with pytest.raises(GradingError, match="forget `return`"):
        check_tensor(None, name="f()")


def test_check_tensor_other_type():
    with pytest.raises(GradingError, match=r"returned a list, but a torch.Tensor is expected\.$"):
        check_tensor([1.0, 2.0], name="f()")


def test_check_tensor_wrong_shape_with_reshape_hint():
    with pytest.raises(GradingError) as info:
        check_tensor(torch.zeros(3, 4), name="f()", shape=(4, 3))
    message = str(info.value)
    assert "shape (3, 4), expected (4, 3)" in message and "reshape" in message


def test_check_tensor_wrong_shape_without_reshape_hint():
    with pytest.raises(GradingError) as info:
        check_tensor(torch.zeros(5), name="f()", shape=(4,))
    message = str(info.value)
    assert "shape (5,), expected (4,)" in message and "reshape" not in message and "extra dimension" not in message


@pytest.mark.parametrize("got", [(1, 4), (4, 1)])
def test_check_tensor_extra_dimension_of_size_one(got):
    with pytest.raises(GradingError) as info:
        check_tensor(torch.zeros(got), name="f()", shape=(4,))
    message = str(info.value)
    assert "reshape" in message and "extra dimension of size 1" in message


@pytest.mark.parametrize(
    "value, dtype, wanted",
    [
        (torch.zeros(2, dtype=torch.float64), torch.float32, "torch.float32"),
        (torch.zeros(2, dtype=torch.int64), "float", "floating-point"),
        (torch.zeros(2), "int", "integer dtype"),
        (torch.zeros(2, dtype=torch.bool), "int", "integer dtype"),
    ],
)
def test_check_tensor_wrong_dtype(value, dtype, wanted):
    with pytest.raises(GradingError) as info:
        check_tensor(value, name="f()", dtype=dtype)
    message = str(info.value)
    assert f"dtype {value.dtype}" in message and wanted in message


def test_check_tensor_wrong_device_type():
    # a meta tensor stands in for "some other device" without needing a GPU
    with pytest.raises(GradingError) as info:
        check_tensor(torch.zeros(2, device="meta"), name="f()", device="cpu")
    message = str(info.value)
    assert "is on meta, expected cpu" in message and "move it" in message
    with pytest.raises(GradingError, match="expected cuda"):
        check_tensor(torch.zeros(2), name="f()", device="cuda")
    check_tensor(torch.zeros(2), name="f()", device=torch.device("cpu"))


# --- compare / max_difference ---------------------------------------------------------------------


def test_compare_within_tolerance_returns_max_difference():
    expected = torch.tensor([1.0, 2.0, 3.0])
    got = expected + torch.tensor([0.0, -4e-7, 2e-7])
    diff = compare(got, expected, name="f(x)")
    assert diff == pytest.approx(float((got.double() - expected.double()).abs().max()))
    assert compare(expected.clone(), expected, name="f(x)") == 0.0


def test_compare_respects_tolerances():
    expected = torch.tensor([1.0, 100.0])
    got = expected * (1 + 1e-3)
    with pytest.raises(GradingError, match="differs from the expected values"):
        compare(got, expected, name="f(x)")
    assert compare(got, expected, name="f(x)", rtol=2e-3) > 0


def test_compare_accepts_number_for_0d_expected():
    assert compare(0.25, torch.tensor(0.25), name="loss") == 0.0
    with pytest.raises(GradingError, match=re.escape("not `.item()`")):
        compare(0.25, torch.tensor([0.25]), name="loss")


def test_compare_names_matching_mistake():
    x = torch.linspace(-2, 2, 9)
    expected = torch.sigmoid(x)
    mistakes = {"the wrong sign": torch.sigmoid(-x), "tanh instead of sigmoid": torch.tanh(x), "nothing": None}
    with pytest.raises(GradingError) as info:
        compare(torch.tanh(x), expected, name="f(x)", mistakes=mistakes, context="for x in [-2, 2]")
    message = str(info.value)
    assert "f(x) for x in [-2, 2] is wrong: it looks like tanh instead of sigmoid" in message
    assert f"{max_difference(torch.tanh(x), expected):.3g}" in message
    with pytest.raises(GradingError) as info:
        compare(x, expected, name="f(x)", mistakes=mistakes)
    assert "looks like" not in str(info.value)


def test_compare_names_every_mistake_that_gives_the_same_values():
    # equal batches: one mean over both is the average of the two means; the message must not name only the first
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([2.0, 6.0])
    mistakes = {
        "the average of the two means": (real.mean() + fake.mean()) / 2,
        "one mean over both": torch.cat([real, fake]).mean(),
    }
    with pytest.raises(GradingError, match="the average of the two means, or one mean over both"):
        compare(torch.cat([real, fake]).mean(), real.mean() + fake.mean(), name="loss", mistakes=mistakes)


def test_compare_reports_nan_and_inf():
    expected = torch.tensor([0.0, 1.0])
    for bad in (torch.tensor([float("nan"), 1.0]), torch.tensor([0.0, float("inf")])):
        with pytest.raises(GradingError, match="NaN or inf.*log\\(0\\)"):
            compare(bad, expected, name="f(x)")


def test_compare_nan_where_expected_nan_passes():
    expected = torch.tensor([float("nan"), 1.0])
    assert compare(expected.clone(), expected, name="f(x)") == 0.0


def test_compare_wrong_shape_raises_shape_message():
    with pytest.raises(GradingError, match=r"shape \(1, 3\), expected \(3,\).*extra dimension"):
        compare(torch.zeros(1, 3), torch.zeros(3), name="f(x)")


def test_max_difference():
    a, b = torch.tensor([1.0, 5.0]), torch.tensor([1.5, 2.0])
    assert max_difference(a, b) == float((a - b).abs().max())
    assert max_difference(torch.zeros(3), torch.zeros(4)) == float("inf")
    assert max_difference(torch.tensor([float("nan")]), torch.tensor([0.0])) == float("inf")
    assert max_difference(torch.tensor([float("nan")]), torch.tensor([float("nan")])) == 0.0


# --- call -----------------------------------------------------------------------------------------


def test_call_passes_arguments_and_result():
    assert call(lambda a, b=0: a + b, 2, b=3) == 5


def test_call_turns_not_implemented_into_grading_error():
    def make_targets(n):
        raise NotImplementedError()

    with pytest.raises(GradingError, match="make_targets is not implemented yet") as info:
        call(make_targets, 3)
    assert isinstance(info.value.__cause__, NotImplementedError)
    with pytest.raises(GradingError, match="^my step is not implemented yet"):
        call(make_targets, 3, name="my step")


def test_call_lets_other_errors_through():
    def broken():
        raise ZeroDivisionError("x")

    with pytest.raises(ZeroDivisionError):
        call(broken)


# --- check_against_reference -----------------------------------------------------------------------


def draw_probabilities(generator: torch.Generator) -> tuple:
    return (torch.rand(5, generator=generator) * 0.98 + 0.01,)


def logit_mistakes(y):
    return {"log(y) only": torch.log(y), "the sign flipped": -torch.logit(y), "log((1-y)/y)": torch.log((1 - y) / y)}


def reference_logit(y):
    return torch.log(y / (1 - y))


@pytest.mark.parametrize(
    "student",
    [
        torch.logit,
        lambda y: torch.log(y / (1 - y)),
        lambda y: torch.log(y) - torch.log1p(-y),
        lambda y: -torch.log(1 / y - 1),
        lambda y: 2 * torch.atanh(2 * y - 1),
    ],
    ids=["torch.logit", "log-ratio", "log1p", "log-reciprocal", "atanh"],
)
def test_check_against_reference_accepts_independent_correct_implementations(student, capsys):
    worst = check_against_reference(
        student, reference_logit, draw_probabilities, name="inverse_sigmoid", mistakes=logit_mistakes, dtype="float"
    )
    assert 0.0 <= worst < 1e-4
    assert "inverse_sigmoid: 5 random inputs" in capsys.readouterr().out


def test_check_against_reference_names_the_mistake():
    with pytest.raises(GradingError) as info:
        check_against_reference(
            lambda y: torch.log((1 - y) / y),
            reference_logit,
            draw_probabilities,
            name="inverse_sigmoid",
            mistakes=logit_mistakes,
        )
    message = str(info.value)
    assert message.startswith("inverse_sigmoid(<tensor (5,)>) is wrong")
    assert "looks like" in message and ("the sign flipped" in message or "log((1-y)/y)" in message)


def test_check_against_reference_unknown_mistake_and_not_implemented():
    with pytest.raises(GradingError, match="differs from the expected values"):
        check_against_reference(
            lambda y: torch.log(y / (1 - y)) + 0.1, reference_logit, draw_probabilities, mistakes=logit_mistakes
        )

    def inverse_sigmoid(y):
        raise NotImplementedError

    with pytest.raises(GradingError, match="inverse_sigmoid is not implemented yet"):
        check_against_reference(inverse_sigmoid, reference_logit, draw_probabilities)


def test_check_against_reference_checks_shape_and_dtype():
    with pytest.raises(GradingError, match="shape"):
        check_against_reference(lambda y: torch.logit(y).unsqueeze(0), reference_logit, draw_probabilities)
    with pytest.raises(GradingError, match="dtype torch.float64, expected torch.float32"):
        check_against_reference(
            lambda y: torch.logit(y.double()), reference_logit, draw_probabilities, dtype=torch.float32
        )
    with pytest.raises(GradingError, match=re.escape("not `.item()`")):
        check_against_reference(lambda y: torch.logit(y)[0].item(), reference_logit, draw_probabilities)
    with pytest.raises(GradingError, match="returned a list, but a torch.Tensor is expected"):
        check_against_reference(lambda y: torch.logit(y).tolist(), reference_logit, draw_probabilities)


def test_check_against_reference_uses_several_seeded_inputs():
    seen = []

    def student(y):
        seen.append(y.clone())
        return torch.logit(y)

    check_against_reference(student, reference_logit, draw_probabilities, trials=3, seed=11)
    generator = torch.Generator().manual_seed(11)
    expected = [draw_probabilities(generator)[0] for _ in range(3)]
    assert len(seen) == 3 and all(torch.equal(a, b) for a, b in zip(seen, expected))


def test_check_against_reference_isolates_in_place_changes_to_tensors():
    def student(y):
        y.mul_(0)  # destroys its own copy of the input...
        return torch.logit(y.add_(0.5))

    def reference(y):
        return torch.zeros_like(y)

    seen_by_mistakes = []
    # ...which neither the reference nor the mistakes callable may see
    check_against_reference(
        student, reference, draw_probabilities, seed=7, mistakes=lambda y: seen_by_mistakes.append(y.clone()) or {}
    )
    generator = torch.Generator().manual_seed(7)
    assert all(torch.equal(y, draw_probabilities(generator)[0]) for y in seen_by_mistakes)


def test_check_against_reference_draws_fresh_inputs_unless_given_a_seed():
    def inputs_seen(seed):
        seen = []
        check_against_reference(
            lambda y: seen.append(y.clone()) or torch.logit(y),
            torch.logit,
            draw_probabilities,
            trials=2,
            seed=seed,
            atol=1e-4,
        )
        return torch.cat([y.flatten() for y in seen])

    fresh = [inputs_seen(None) for _ in range(2)]
    assert fresh[0].shape != fresh[1].shape or not torch.equal(*fresh)  # a grading run's inputs say nothing of the next
    assert torch.equal(inputs_seen(3), inputs_seen(3))


def test_check_against_reference_isolates_module_arguments():
    def make_inputs(generator):
        model = nn.Linear(2, 1)
        with torch.no_grad():
            model.weight.copy_(torch.rand(1, 2, generator=generator))
            model.bias.zero_()
        return model, torch.rand(4, 2, generator=generator)

    def one_sgd_step(model, x):  # the kind of exercise that modifies its module
        loss = model(x).pow(2).mean()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
        return model(x).detach()

    check_against_reference(one_sgd_step, one_sgd_step, make_inputs, trials=1)


# --- check_number -----------------------------------------------------------------------------------


def test_check_number_accepts_plain_numbers():
    assert check_number(0.5, name="train_step()") == 0.5
    assert check_number(3, name="x") == 3.0 and type(check_number(3, name="x")) is float
    assert check_number(np.float32(0.25), name="x") == 0.25


@pytest.mark.parametrize("tensor", [torch.tensor(0.5), torch.tensor(0.5, requires_grad=True) * 1, torch.zeros(1)])
def test_check_number_rejects_tensors_with_item_hint(tensor):
    with pytest.raises(GradingError) as info:
        check_number(tensor, name="train_step()")
    message = str(info.value)
    assert "returned a tensor" in message and "loss.item()" in message
    assert f"shape {tuple(tensor.shape)}" in message


@pytest.mark.parametrize(
    "value, described", [(None, "forget `return`"), (True, "a bool"), ("0.5", "a str"), (1 + 2j, "a Python complex")]
)
def test_check_number_rejects_non_numbers(value, described):
    with pytest.raises(GradingError) as info:
        check_number(value, name="train_step()")
    assert described in str(info.value) and "loss.item()" in str(info.value)


# --- parameters_of / changed_parameters ---------------------------------------------------------------


def test_parameters_of_is_a_detached_copy():
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    before = parameters_of(model)
    assert set(before) == {name for name, _ in model.named_parameters()}
    for name, p in model.named_parameters():
        assert torch.equal(before[name], p) and not before[name].requires_grad
        assert before[name].data_ptr() != p.data_ptr()
    with torch.no_grad():
        model[0].weight.add_(1.0)
    assert not torch.equal(before["0.weight"], model[0].weight)


def test_changed_parameters_names_the_updated_ones():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    before = parameters_of(model)
    assert changed_parameters(before, model) == []
    with torch.no_grad():
        model[1].bias.add_(0.5)
        model[0].weight[0, 0] += 1e-3
    assert changed_parameters(before, model) == ["0.weight", "1.bias"]
    assert changed_parameters(before, model, atol=1e-2) == ["1.bias"]


def test_changed_parameters_after_an_optimizer_step_on_one_module():
    torch.manual_seed(0)
    generator, discriminator = nn.Linear(2, 2), nn.Linear(2, 1)
    g_before, d_before = parameters_of(generator), parameters_of(discriminator)
    optimizer = torch.optim.SGD(discriminator.parameters(), lr=0.1)
    discriminator(generator(torch.randn(4, 2)).detach()).mean().backward()
    optimizer.step()
    assert changed_parameters(g_before, generator) == []
    assert sorted(changed_parameters(d_before, discriminator)) == ["bias", "weight"]


# --- require_grad_flow ------------------------------------------------------------------------------


def test_require_grad_flow_passes_for_torch_computation():
    x, w = torch.randn(3, requires_grad=True), torch.randn(3, requires_grad=True)
    require_grad_flow((x * w).sigmoid(), [x, w], name="f(x, w)")
    assert x.grad is None and w.grad is None  # the check does not accumulate gradients


@pytest.mark.parametrize(
    "cut",
    [
        lambda x: x.detach() * 2,
        lambda x: torch.tensor(x.sum().item()),
        lambda x: torch.as_tensor(x.detach().numpy() * 2),
    ],
    ids=["detach", "item", "numpy"],
)
def test_require_grad_flow_detects_cut_graph(cut):
    x = torch.randn(3, requires_grad=True)
    with pytest.raises(GradingError, match="detach"):
        require_grad_flow(cut(x), [x], name="f(x)")


def test_require_grad_flow_names_the_input_without_gradient():
    x, y = torch.randn(3, requires_grad=True), torch.randn(3, requires_grad=True)
    with pytest.raises(GradingError, match="f: no gradient reaches input #2"):
        require_grad_flow(x * 2 + y.detach(), [x, y], name="f")


def test_on_the_meta_device_an_answer_that_reads_its_values_is_not_judged_by_its_device():
    """A GPU lets an answer read its tensors' values (an assert, .item()); the meta device, standing in for it, cannot:
    such an answer is not failed for it. An ignored device, a copy to the CPU and a stub still fail, saying what."""
    meta = torch.device("meta")

    def asserts(n, device=None):
        labels = torch.randint(10, (n,), device=device)
        assert labels.min() >= 0
        return labels

    def uniques(n, device=None):
        return torch.unique(torch.randint(10, (n,), device=device))

    def on_device(n, device=None):
        return torch.randint(10, (n,), device=device)

    def copies_to_cpu(n, device=None):
        return torch.randint(10, (n,), device=device).cpu()

    def stub(n, device=None):
        raise NotImplementedError()

    for answer in (asserts, uniques):
        assert call_on_meta(answer, 3, device=meta, failed="f failed", hint="h") is None
    assert call_on_meta(on_device, 3, device=meta, failed="f failed", hint="h").device == meta
    with pytest.raises(GradingError, match=r"f failed \(NotImplementedError: Cannot copy out of meta tensor.*\): h"):
        call_on_meta(copies_to_cpu, 3, device=meta, failed="f failed", hint="h")
    with pytest.raises(GradingError, match="stub is not implemented yet"):
        call_on_meta(stub, 3, device=meta, failed="f failed", hint="h")


def test_a_stub_reached_through_another_exercise_is_named():
    """identity_loss calling the student's blank cycle_consistency_loss: the feedback names the blank one, not the
    function under test (the worker's message says which answer cell raised: grader.protocol.encode_error)."""
    from grader.protocol import decode_error, encode_error

    namespace = {}
    exec(  # noqa: S102 - the test's own source
        compile("def cycle(x):\n    raise NotImplementedError()\n", "<your answer cell for cycle>", "exec"), namespace
    )
    try:
        namespace["cycle"](1)
    except NotImplementedError as error:
        raised = decode_error(encode_error(error))

    def identity(x):
        raise raised

    with pytest.raises(GradingError, match="^identity calls cycle, which is not implemented yet: write cycle first"):
        call(identity, 1)

    def cycle(x):
        raise raised

    with pytest.raises(GradingError, match="^cycle is not implemented yet"):
        call(cycle, 1)
