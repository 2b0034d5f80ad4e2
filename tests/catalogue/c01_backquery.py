"""Lesson 1 (backquery): independently written correct answers and typical mistakes, one entry per exercise.

Format: see tests/catalogue/README.md. Each source replaces the whole solution cell of a student notebook.
"""

LESSON = "01_backquery"

EXERCISES = {
    "make_targets": {
        "test": "test_make_targets",
        "correct": {
            "zeros plus 0.01, index assignment": """
def make_targets(label, num_classes=10):
    targets = torch.zeros(num_classes) + 0.01
    targets[label] = 0.99
    return targets
""",
            "one_hot scaled": """
def make_targets(label, num_classes=10):
    one_hot = F.one_hot(torch.as_tensor(label), num_classes).float()
    return one_hot * 0.98 + 0.01
""",
            "list comprehension": """
def make_targets(label, num_classes=10):
    return torch.tensor([0.99 if k == int(label) else 0.01 for k in range(num_classes)])
""",
        },
        "mistakes": {
            "one-hot 0/1 targets": (
                "one-hot",
                """
def make_targets(label, num_classes=10):
    targets = torch.zeros(num_classes)
    targets[label] = 1.0
    return targets
""",
            ),
            "0.01 and 0.99 swapped": (
                "swapped",
                """
def make_targets(label, num_classes=10):
    targets = torch.full((num_classes,), 0.99)
    targets[label] = 0.01
    return targets
""",
            ),
            "off by one": (
                "off by one",
                """
def make_targets(label, num_classes=10):
    targets = torch.full((num_classes,), 0.01)
    targets[(label + 1) % num_classes] = 0.99
    return targets
""",
            ),
            "num_classes ignored": (
                "num_classes",
                """
def make_targets(label, num_classes=10):
    targets = torch.full((10,), 0.01)
    targets[label] = 0.99
    return targets
""",
            ),
            "one cached tensor changed in place": (
                "shared tensor",
                """
_cache = {}

def make_targets(label, num_classes=10):
    targets = _cache.setdefault(num_classes, torch.empty(num_classes))
    targets.fill_(0.01)
    targets[label] = 0.99
    return targets
""",
            ),
        },
    },
    "inverse_sigmoid": {
        "test": "test_inverse_sigmoid",
        "correct": {
            "difference of logs": """
def inverse_sigmoid(y):
    return torch.log(y) - torch.log(1 - y)
""",
            "torch.logit": """
def inverse_sigmoid(y):
    return torch.logit(y)
""",
            "minus log of 1/y - 1": """
def inverse_sigmoid(y):
    return -torch.log(1 / y - 1)
""",
        },
        "mistakes": {
            "wrong sign": (
                "wrong sign",
                """
def inverse_sigmoid(y):
    return torch.log((1 - y) / y)
""",
            ),
            "the sigmoid itself": (
                "the sigmoid",
                """
def inverse_sigmoid(y):
    return torch.sigmoid(y)
""",
            ),
            "log(y) only": (
                "without dividing by (1 - y)",
                """
def inverse_sigmoid(y):
    return torch.log(y)
""",
            ),
            "the sigmoid's derivative": (
                "derivative",
                """
def inverse_sigmoid(y):
    return y * (1 - y)
""",
            ),
            "changes its input in place": (
                "in place",
                """
def inverse_sigmoid(y):
    return y.div_(1 - y).log_()
""",
            ),
        },
    },
    "backquery": {
        "test": "test_backquery",
        "correct": {
            "row vectors, torch.logit, min-max by hand": """
def backquery(model, label):
    def squeeze_into_range(v):
        return (v - v.min()) / (v.max() - v.min()) * 0.98 + 0.01

    w_hidden = model.hidden.weight.detach()
    w_output = model.output.weight.detach()
    targets = torch.full((w_output.shape[0],), 0.01)
    targets[label] = 0.99
    hidden = squeeze_into_range(torch.logit(targets) @ w_output)
    image = squeeze_into_range(torch.logit(hidden) @ w_hidden)
    return image.view(28, 28)
""",
            "F.linear with transposed weights, the student's helpers": """
def backquery(model, label):
    with torch.no_grad():
        out_signal = inverse_sigmoid(make_targets(label, num_classes=model.output.out_features))
        hidden = F.linear(out_signal, model.output.weight.t())
        lo, hi = hidden.aminmax()
        hidden = 0.01 + 0.98 * (hidden - lo) / (hi - lo)
        pixels = F.linear(inverse_sigmoid(hidden), model.hidden.weight.t())
        lo, hi = pixels.aminmax()
        pixels = 0.01 + 0.98 * (pixels - lo) / (hi - lo)
    return pixels.reshape(28, 28)
""",
            "NumPy, as in Rashid's book": """
import numpy

def backquery(model, label):
    who = model.output.weight.detach().cpu().numpy()
    wih = model.hidden.weight.detach().cpu().numpy()
    final_outputs = numpy.zeros(who.shape[0]) + 0.01
    final_outputs[label] = 0.99
    final_inputs = numpy.log(final_outputs / (1 - final_outputs))
    hidden_outputs = numpy.dot(who.T, final_inputs)
    hidden_outputs -= numpy.min(hidden_outputs)
    hidden_outputs /= numpy.max(hidden_outputs)
    hidden_outputs = hidden_outputs * 0.98 + 0.01
    hidden_inputs = numpy.log(hidden_outputs / (1 - hidden_outputs))
    inputs = numpy.dot(wih.T, hidden_inputs)
    inputs -= numpy.min(inputs)
    inputs /= numpy.max(inputs)
    inputs = inputs * 0.98 + 0.01
    return torch.from_numpy(inputs).reshape(28, 28)
""",
        },
        "mistakes": {
            "rescaled to [0, 1]": (
                "[0, 1] instead of [0.01, 0.99]",
                """
def backquery(model, label):
    def rescale(v):
        v = v - v.min()
        return v / v.max()
    with torch.no_grad():
        hidden = model.output.weight.T @ inverse_sigmoid(make_targets(label))
        hidden = rescale(hidden) * 0.98 + 0.01
        image = rescale(model.hidden.weight.T @ inverse_sigmoid(hidden))
    return image.reshape(28, 28)
""",
            ),
            "hidden signal not rescaled before its logit": (
                "before its logit",
                """
def backquery(model, label):
    with torch.no_grad():
        hidden = model.output.weight.T @ inverse_sigmoid(make_targets(label))
        image = model.hidden.weight.T @ inverse_sigmoid(hidden)
        image = (image - image.min()) / (image.max() - image.min()) * 0.98 + 0.01
    return image.reshape(28, 28)
""",
            ),
            "sigmoid instead of its inverse": (
                "sigmoid",
                """
def backquery(model, label):
    def rescale(v):
        return (v - v.min()) / (v.max() - v.min()) * 0.98 + 0.01
    with torch.no_grad():
        hidden = rescale(model.output.weight.T @ torch.sigmoid(make_targets(label)))
        image = rescale(model.hidden.weight.T @ torch.sigmoid(hidden))
    return image.reshape(28, 28)
""",
            ),
            "label ignored": (
                "ignored",
                """
def backquery(model, label):
    def rescale(v):
        return (v - v.min()) / (v.max() - v.min()) * 0.98 + 0.01
    with torch.no_grad():
        hidden = rescale(model.output.weight.T @ inverse_sigmoid(make_targets(0)))
        image = rescale(model.hidden.weight.T @ inverse_sigmoid(hidden))
    return image.reshape(28, 28)
""",
            ),
            "flat image, not reshaped": (
                "reshape",
                """
def backquery(model, label):
    def rescale(v):
        return (v - v.min()) / (v.max() - v.min()) * 0.98 + 0.01
    with torch.no_grad():
        hidden = rescale(model.output.weight.T @ inverse_sigmoid(make_targets(label)))
        image = rescale(model.hidden.weight.T @ inverse_sigmoid(hidden))
    return image
""",
            ),
        },
    },
}
