"""What the five sources reported, and which glued value of which chapter answers each report.

The results page (``book/beyond/results.md``) is drawn from this table by the book's Sphinx
extension once every chapter has been executed: the source's number is quoted as printed (it
is the source's, not ours), and the measured value is read from the glue registry that
myst-nb writes for each chapter (``_build/jupyter_execute/<chapter>.glue.json``). Nothing
measured is typed here, only the *names* of glued values and how to format them.

A claim's ``measured`` is a ``str.format`` template whose fields are glue keys of its chapter,
e.g. ``"{eager_ms:.2f} ms"``. A claim marked ``optional`` may be missing from a build (the
smoke profile runs fewer epochs); a missing required key is a build error.
"""

from __future__ import annotations

import ast
import string
from dataclasses import dataclass

SOURCES = {
    "000": ("Exploring PyTorch and JAX", "blog post", "book/posts/exploring-pytorch-and-jax"),
    "001": ("A Comparative Introduction to Deep Learning Frameworks: JAX", "slide deck",
            "book/slides/jax-a-comparative-introduction"),
    "002": ("Common Libraries / Functionalities in PyTorch vs. JAX", "slide deck",
            "book/slides/pytorch-vs-jax-common-libraries"),
    "003": ("What are JAX and Flax?", "blog post", "book/posts/what-are-jax-and-flax"),
    "004": ("An introduction to JAX", "blog post", "book/posts/an-introduction-to-jax"),
}
# Every chapter glues the devices its two frameworks computed on under this key.
DEVICE_KEY = "build_device"


@dataclass(frozen=True)
class Claim:
    source: str          # a key of SOURCES
    quantity: str        # what was measured, in the book's words (Markdown)
    reported: str        # the source's number as it printed it (quoted, never measured here)
    measured: str        # str.format template over glue keys of the source's chapter
    optional: bool = False

    @property
    def chapter(self) -> str:
        return SOURCES[self.source][2]

    @property
    def keys(self) -> list[str]:
        return glue_keys(self.measured)


# The per-epoch table of the JAX slides (epoch, seconds, train accuracy, test accuracy), as printed.
SLIDES_EPOCHS = (
    (0, "10.44", "0.9252", "0.9271"), (1, "5.16", "0.9428", "0.9410"), (2, "4.65", "0.9533", "0.9513"),
    (3, "4.57", "0.9599", "0.9558"), (4, "4.52", "0.9651", "0.9601"), (5, "8.04", "0.9692", "0.9630"),
    (6, "10.43", "0.9726", "0.9652"), (7, "10.43", "0.9754", "0.9667"), (8, "6.69", "0.9779", "0.9680"),
    (9, "6.79", "0.9805", "0.9692"),
)

CLAIMS = (
    # 000: the 784-128-10 MLP on Fashion-MNIST, SGD 0.001 momentum 0.9, two epochs.
    Claim("000", "PyTorch test accuracy, test set normalised to [−1, 1] as in the post", "57.59 %",
          "{posted_PyTorch:.2%}"),
    Claim("000", "Flax test accuracy", "79.68 % (printed as 0.79677546)",
          "{posted_JAX:.2%} Linen · {posted_NNX:.2%} NNX"),
    Claim("000", "the same PyTorch model, test set prepared like its training set", "not measured",
          "{torch_unit:.2%}"),
    # 001: the JAX slides.
    Claim("001", "`jax.grad(jnp.exp)(1.0)`", "2.7182817", "{grad_exp_at_1:.7f}"),
    Claim("001", "`np.random.seed(0)`, then two uniform draws", "[0.7135691, 0.5401991]",
          "{numpy_seed0_draws}"),
    *(Claim("001", f"pure-JAX MLP, epoch {epoch}: seconds · train accuracy · test accuracy",
            f"{seconds} s · {train} · {test}",
            f"{{epoch_{epoch}_seconds:.2f}} s · {{epoch_{epoch}_train_accuracy:.4f}} · "
            f"{{epoch_{epoch}_test_accuracy:.4f}}", optional=True)
      for epoch, seconds, train, test in SLIDES_EPOCHS),
    Claim("001", "pure-JAX MLP, final test accuracy", "0.9692", "{final_test_accuracy:.4f}"),
    # 003: the CNN on MNIST; the post reports speed only as a bar chart against TensorFlow.
    Claim("003", "which framework trains the CNN faster", "JAX (faster than TensorFlow and PyTorch; "
          "no number given)", "{faster_name} ({speedup:.2f}× per steady epoch)"),
    Claim("003", "CNN epoch time, JAX (steady state, median)", "no number given",
          "{jax_epoch_s:.1f} s Linen · {nnx_epoch_s:.1f} s NNX"),
    Claim("003", "CNN epoch time, PyTorch (steady state, median)", "no number given",
          "{torch_epoch_s:.1f} s"),
    Claim("003", "CNN test accuracy, JAX (Linen · NNX) · PyTorch", "no number given",
          "{jax_test_accuracy:.2%} · {nnx_test_accuracy:.2%} · {torch_test_accuracy:.2%}"),
    # 004: the tiny network written by hand.
    Claim("004", "predicted probabilities of the three inputs", "0.785835 · 0.81757444 · 0.8455348",
          "{prob_0:.6f} · {prob_1:.8f} · {prob_2:.7f}"),
    Claim("004", "gradients of the loss with respect to both kernels", "printed in full",
          "largest difference from the post {grads_vs_post:.1e}"),
    Claim("004", "kernels after one SGD step (learning rate 0.1)", "printed in full",
          "largest difference from the post {update_vs_post:.1e}"),
    Claim("004", "update step without `jit`", "10.3 ms", "{eager_ms:.2f} ms"),
    Claim("004", "jitted update step, not waiting for the result", "4.39 µs", "{dispatch_us:.2f} µs"),
    Claim("004", "jitted update step, waiting for the result", "not measured", "{jit_us:.2f} µs"),
    Claim("004", "slowest / fastest `%timeit` repeat", "256.52", "{timeit_ratio:.0f}"),
    Claim("004", "Flax initial kernel of the first layer, `PRNGKey(0)`", "1.1381536, −1.0838526, …",
          "largest difference from the post {init_vs_post:.2f}"),
)


def glue_keys(template: str) -> list[str]:
    """The glue keys a ``measured`` template reads, in order."""
    return [field for _, field, _, _ in string.Formatter().parse(template) if field]


def plain_value(text: str):
    """A glued ``text/plain`` representation back as a Python value (a repr, as IPython wrote it)."""
    try:
        return ast.literal_eval(text)
    except (SyntaxError, ValueError):
        return text


def render(template: str, glued: dict[str, str]) -> str | None:
    """``template`` filled from ``glued`` (``{key: text/plain}``); None when a key is missing."""
    parts = []
    for literal, field, spec, _ in string.Formatter().parse(template):
        parts.append(literal)
        if field is None:
            continue
        if field not in glued:
            return None
        parts.append(format(plain_value(glued[field]), spec or ""))
    return "".join(parts)
