#!/usr/bin/env python3
"""Known answers for the unit tests at the bottom of claude-core's norm.rs, mlp.rs and position.rs.

Every input is fixed here (small literal arrays, or integer formulas that give exact multiples of
1/8 or 1/256, so the f32 copies in Rust are exact). The expected outputs are computed
independently of burn, in float64 numpy, and printed as Rust `const` items to paste between the
`BEGIN known_answers.py` / `END known_answers.py` markers of each test module.

For every test the script also computes the outputs under the plausible wrong conventions that
test is meant to catch (half-split RoPE, tanh GeLU, wrong eps, gate/up swapped, ...) and checks
that each differs from the right answer by at least 10x the tests' tolerance (1e-5), so each test
fails if the code made that mistake. Margins are printed to stderr.

    python3 crates/core/tests/data/known_answers.py            # all three files
    python3 crates/core/tests/data/known_answers.py norm       # one: norm, mlp or position
    python3 crates/core/tests/data/known_answers.py --broken   # each test's expectation
                                                                      # under its first mistake
                                                                      # (paste to see tests fail)
"""

import argparse
import math
import sys

import numpy as np

TOLERANCE = 1e-5  # what the Rust tests allow (f32 compute)
MARGIN = 10 * TOLERANCE  # how far every wrong convention must land from the right answer

# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------

# [batch 2, seq 2, d_model 8]. Row 2 is tiny (mean square ~2e-4) so eps = 1e-5 moves its output
# by ~2.5%; row 1 is all positive (a large mean, which LayerNorm would remove).
NORM_X = np.array(
    [
        [
            [1.0, -2.0, 3.0, -4.0, 0.5, 0.25, -1.5, 2.0],
            [2.0, 1.5, 1.0, 3.0, 2.5, 0.5, 1.0, 2.0],
        ],
        [
            [3 / 256, -5 / 256, 2 / 256, 4 / 256, -1 / 256, 6 / 256, -3 / 256, 1 / 256],
            [-0.75, 0.125, 4.0, -2.5, 1.25, -0.375, 0.0, 3.5],
        ],
    ]
)
NORM_GAMMA = np.array([0.5, 1.0, 1.5, 2.0, -1.0, 0.25, 1.25, 0.75])
NORM_BETA = np.array([0.125, -0.25, 0.375, 0.0, 0.5, -0.5, 0.25, -0.125])
EPS = 1e-5  # burn's RmsNorm default and our LAYER_NORM_EPS


def grid(rows, cols, a, b, c, m=11, scale=1 / 8):
    """A deterministic `[rows, cols]` matrix of multiples of `scale` in [-(m//2), m//2] * scale."""
    i = np.arange(rows)[:, None]
    j = np.arange(cols)[None, :]
    return (((a * i + b * j + c) % m) - m // 2) * scale


# The MLPs: d_model 8, hidden (d_ff) 4, input [batch 2, seq 2, 8] (reuses NORM_X rows 0, 1, 3
# and a fourth row).
D_MODEL, HIDDEN = 8, 4
MLP_X = np.array(
    [
        [
            [1.0, -2.0, 3.0, -4.0, 0.5, 0.25, -1.5, 2.0],
            [2.0, 1.5, 1.0, 3.0, 2.5, 0.5, 1.0, 2.0],
        ],
        [
            [-0.75, 0.125, 4.0, -2.5, 1.25, -0.375, 0.0, 3.5],
            [0.5, -1.0, -0.25, 1.75, -2.0, 1.0, 0.75, -0.5],
        ],
    ]
)
# Scaled so the pre-activations spread over about [-4, 4] (where tanh GeLU and erf GeLU differ).
GELU_FC_W = grid(D_MODEL, HIDDEN, 3, 5, 1) / 2  # [d_in, d_out] as burn stores it
GELU_FC_B = np.array([0.25, -0.5, 0.125, 0.0])
GELU_PROJ_W = grid(HIDDEN, D_MODEL, 7, 2, 4, scale=1 / 4)
GELU_PROJ_B = np.array([0.0, 0.125, -0.125, 0.25, -0.25, 0.5, -0.5, 1.0])
# SwiGLU: c_fc is [8, 2 * 4]: columns 0..4 the gate, 4..8 the up projection.
SWIGLU_FC_W = grid(D_MODEL, 2 * HIDDEN, 3, 5, 2) / 2
SWIGLU_FC_B = np.array([0.25, -0.5, 0.125, 0.0, -0.25, 0.5, 0.375, -0.125])
SWIGLU_PROJ_W = grid(HIDDEN, D_MODEL, 5, 3, 1, scale=1 / 4)
SWIGLU_PROJ_B = np.array([0.5, -0.25, 0.0, 0.125, 0.25, -0.5, 0.375, -0.375])

# RoPE: 2 heads x head_dim 4 (d_model 8), 5 positions, [batch 1, heads 2, seq 5, head_dim 4].
ROPE_X = (grid(2 * 5, 4, 3, 7, 2) * 2).reshape(1, 2, 5, 4)
ROPE_START = 3  # the second apply covers positions 3..8
# Non-default theta: 2 heads x head_dim 8 (d_model 16), 3 positions from start 2.
THETA_X = (grid(2 * 3, 8, 5, 3, 1) * 2).reshape(1, 2, 3, 8)
THETA = 1000.0
THETA_START = 2
# rotate_at: 3 rows (one token each) x 2 heads x head_dim 4, row b at ROW_POSITIONS[b].
ROW_X = (grid(3 * 2, 4, 2, 5, 3) * 2).reshape(3, 2, 1, 4)
ROW_POSITIONS = [4, 0, 9]
CONTEXT = 16  # context_length: enough for every position above

# --------------------------------------------------------------------------------------------
# References (float64), each with the wrong conventions it must tell apart
# --------------------------------------------------------------------------------------------


def rms_norm(x, gamma, eps=EPS, eps_outside=False, subtract_mean=False, ddof=0, use_gamma=True):
    if subtract_mean:
        x = x - x.mean(-1, keepdims=True)
    ms = (x**2).sum(-1, keepdims=True) / (x.shape[-1] - ddof)
    denom = np.sqrt(ms) + eps if eps_outside else np.sqrt(ms + eps)
    return x / denom * (gamma if use_gamma else 1.0)


def layer_norm(x, gamma, beta, eps=EPS, ddof=0, use_beta=True, no_mean=False):
    mean = 0.0 if no_mean else x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).sum(-1, keepdims=True) / (x.shape[-1] - ddof)
    return (x - mean) / np.sqrt(var + eps) * gamma + (beta if use_beta else 0.0)


def gelu_erf(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def silu(x):
    return x * sigmoid(x)


def gelu_mlp(x, act=gelu_erf, bias=True):
    h = x @ GELU_FC_W + (GELU_FC_B if bias else 0.0)
    return act(h) @ GELU_PROJ_W + (GELU_PROJ_B if bias else 0.0)


def swiglu_mlp(x, mistake=None):
    h = x @ SWIGLU_FC_W + (0.0 if mistake == "bias ignored" else SWIGLU_FC_B)
    gate, up = h[..., :HIDDEN], h[..., HIDDEN:]
    if mistake == "gate/up swapped":
        gate, up = up, gate
    if mistake == "gate/up interleaved columns":
        gate, up = h[..., 0::2], h[..., 1::2]
    act = {
        "gelu instead of silu": gelu_erf,
        "sigmoid instead of silu (GLU)": sigmoid,
    }.get(mistake, silu)
    a = act(gate) * up
    return a @ SWIGLU_PROJ_W + (0.0 if mistake == "bias ignored" else SWIGLU_PROJ_B)


def rope(x, positions, theta=10000.0, freq_dim=None, pairs="interleaved", direction=1.0,
         exponent_step=2):
    """Rotates `x[..., p, :]` by the angles of `positions[p]` (broadcast over leading axes).

    Interleaved (burn, GPT-J, Meta's Llama): pair i is (x[2i], x[2i+1]) with frequency
    theta^(-2i/d). Half-split (GPT-NeoX, Hugging Face Llama): pair i is (x[i], x[i + d/2]).
    """
    d = x.shape[-1]
    freq_dim = freq_dim or d
    i = np.arange(d // 2)
    freqs = theta ** (-exponent_step * i / freq_dim)
    angles = np.asarray(positions, dtype=np.float64)[:, None] * freqs[None, :]  # [seq, d/2]
    cos, sin = np.cos(angles), np.sin(direction * angles)
    out = np.empty_like(x)
    if pairs == "interleaved":
        a, b = x[..., 0::2], x[..., 1::2]
        out[..., 0::2] = a * cos - b * sin
        out[..., 1::2] = a * sin + b * cos
    else:
        a, b = x[..., : d // 2], x[..., d // 2 :]
        out[..., : d // 2] = a * cos - b * sin
        out[..., d // 2 :] = a * sin + b * cos
    return out


def rope_rows(x, positions, **kwargs):
    """`x`: [rows, heads, 1, head_dim], row r at positions[r]."""
    return np.stack([rope(x[r], [p], **kwargs) for r, p in enumerate(positions)])


# --------------------------------------------------------------------------------------------
# The tests: for each, the right answer and the mistakes it must catch (the first is used by
# --broken).
# --------------------------------------------------------------------------------------------


def rope_cases():
    seq = ROPE_X.shape[2]
    at0, at_start = range(seq), range(ROPE_START, ROPE_START + seq)
    t_seq = THETA_X.shape[2]
    t_pos = range(THETA_START, THETA_START + t_seq)
    return [
        (
            "ROPE_AT_0",
            rope(ROPE_X, at0),
            {
                "half-split pairs (x[i], x[i+d/2])": rope(ROPE_X, at0, pairs="half"),
                "rotation the other way": rope(ROPE_X, at0, direction=-1.0),
                "frequencies over d_model, not head_dim": rope(ROPE_X, at0, freq_dim=8),
                "exponent i/d, not 2i/d": rope(ROPE_X, at0, exponent_step=1),
                "positions from 1": rope(ROPE_X, range(1, seq + 1)),
            },
        ),
        (
            "ROPE_AT_START",
            rope(ROPE_X, at_start),
            {
                "start offset ignored": rope(ROPE_X, at0),
                "half-split pairs (x[i], x[i+d/2])": rope(ROPE_X, at_start, pairs="half"),
                "start off by one": rope(ROPE_X, range(ROPE_START + 1, ROPE_START + seq + 1)),
            },
        ),
        (
            "THETA_ROTATED",
            rope(THETA_X, t_pos, theta=THETA),
            {
                "theta ignored (10000)": rope(THETA_X, t_pos),
                "half-split pairs (x[i], x[i+d/2])": rope(
                    THETA_X, t_pos, theta=THETA, pairs="half"
                ),
                "frequencies over d_model, not head_dim": rope(
                    THETA_X, t_pos, theta=THETA, freq_dim=16
                ),
                "exponent i/d, not 2i/d": rope(THETA_X, t_pos, theta=THETA, exponent_step=1),
            },
        ),
        (
            "ROWS_ROTATED",
            rope_rows(ROW_X, ROW_POSITIONS),
            {
                "every row at the first row's position": rope_rows(ROW_X, [ROW_POSITIONS[0]] * 3),
                "rows at 0, 1, 2 (their index)": rope_rows(ROW_X, [0, 1, 2]),
                "half-split pairs (x[i], x[i+d/2])": rope_rows(ROW_X, ROW_POSITIONS, pairs="half"),
                "rotation the other way": rope_rows(ROW_X, ROW_POSITIONS, direction=-1.0),
            },
        ),
    ]


def norm_cases():
    x, g, b = NORM_X, NORM_GAMMA, NORM_BETA
    return [
        (
            "RMS_EXPECTED",
            rms_norm(x, g),
            {
                "eps 1e-6": rms_norm(x, g, eps=1e-6),
                "eps 1e-4": rms_norm(x, g, eps=1e-4),
                "no eps": rms_norm(x, g, eps=0.0),
                "eps added outside the sqrt": rms_norm(x, g, eps_outside=True),
                "mean subtracted (LayerNorm without beta)": rms_norm(x, g, subtract_mean=True),
                "divides by n - 1": rms_norm(x, g, ddof=1),
                "gamma ignored": rms_norm(x, g, use_gamma=False),
            },
        ),
        (
            "LAYER_EXPECTED",
            layer_norm(x, g, b),
            {
                "unbiased variance (n - 1)": layer_norm(x, g, b, ddof=1),
                "eps 1e-6": layer_norm(x, g, b, eps=1e-6),
                "no eps": layer_norm(x, g, b, eps=0.0),
                "beta ignored": layer_norm(x, g, b, use_beta=False),
                "mean not subtracted (RMSNorm)": layer_norm(x, g, b, no_mean=True),
            },
        ),
    ]


def mlp_cases():
    x = MLP_X
    return [
        (
            "SWIGLU_EXPECTED",
            swiglu_mlp(x),
            {
                m: swiglu_mlp(x, m)
                for m in [
                    "gate/up swapped",
                    "gate/up interleaved columns",
                    "gelu instead of silu",
                    "sigmoid instead of silu (GLU)",
                    "bias ignored",
                ]
            },
        ),
        (
            "GELU_EXPECTED",
            gelu_mlp(x),
            {
                "tanh-approximate GeLU": gelu_mlp(x, act=gelu_tanh),
                "SiLU instead of GeLU": gelu_mlp(x, act=silu),
                "ReLU instead of GeLU": gelu_mlp(x, act=lambda h: np.maximum(h, 0.0)),
                "bias ignored": gelu_mlp(x, bias=False),
            },
        ),
    ]


# --------------------------------------------------------------------------------------------
# Printing
# --------------------------------------------------------------------------------------------


def fmt(v, digits):
    s = f"{v:.{digits}f}" if digits else repr(float(v))
    if s.startswith("-") and float(s) == 0.0:
        s = s[1:]
    return s


def rust_const(name, array, ty, digits=None):
    """`const NAME: [ty; n] = [...];`, flat, an innermost row (or half of one) per line."""
    array = np.asarray(array, dtype=np.float64)
    rows = array.reshape(-1, array.shape[-1])
    shape = "x".join(str(d) for d in array.shape)
    lines = [f"// shape {shape}", "#[rustfmt::skip]", f"const {name}: [{ty}; {array.size}] = ["]
    for row in rows:
        # Innermost rows on one line each, halved while too wide for 100 columns in a test module.
        chunks = [row]
        while max(len(", ".join(fmt(v, digits) for v in c)) for c in chunks) > 88:
            chunks = [half for c in chunks for half in np.array_split(c, 2)]
        for chunk in chunks:
            lines.append("    " + ", ".join(fmt(v, digits) for v in chunk) + ",")
    lines.append("];")
    return "\n".join(lines)


def exact_f32(array):
    array = np.asarray(array, dtype=np.float64)
    assert np.array_equal(array.astype(np.float32).astype(np.float64), array), "input not f32-exact"
    return array


def check(cases):
    ok = True
    for name, right, mistakes in cases:
        for mistake, wrong in mistakes.items():
            margin = float(np.max(np.abs(wrong - right)))
            verdict = "ok" if margin >= MARGIN else "TOO CLOSE"
            ok &= margin >= MARGIN
            print(f"{name:16} {mistake:45} max |diff| {margin:.3e}  {verdict}", file=sys.stderr)
    return ok


def section(title, inputs, cases, broken):
    print(f"// ---- {title} ----")
    note = " (BROKEN: first mistake of each test)" if broken else ""
    print(f"// BEGIN known_answers.py output{note}")
    for name, array in inputs:
        print(rust_const(name, exact_f32(array), "f32"))
    for name, right, mistakes in cases:
        value = next(iter(mistakes.values())) if broken else right
        print(rust_const(name, value, "f64", digits=10))
    print("// END known_answers.py output")
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("which", nargs="*", help="norm, mlp or position (default: all three)")
    parser.add_argument("--broken", action="store_true", help="print wrong expectations")
    args = parser.parse_args()
    which = args.which or ["norm", "mlp", "position"]
    for key in which:
        if key not in ("norm", "mlp", "position"):
            parser.error(f"unknown section {key!r}: norm, mlp or position")

    sections = {
        "norm": (
            "norm.rs",
            [("X", NORM_X), ("GAMMA", NORM_GAMMA), ("BETA", NORM_BETA)],
            norm_cases(),
        ),
        "mlp": (
            "mlp.rs",
            [
                ("X", MLP_X),
                ("SWIGLU_FC_W", SWIGLU_FC_W),
                ("SWIGLU_FC_B", SWIGLU_FC_B),
                ("SWIGLU_PROJ_W", SWIGLU_PROJ_W),
                ("SWIGLU_PROJ_B", SWIGLU_PROJ_B),
                ("GELU_FC_W", GELU_FC_W),
                ("GELU_FC_B", GELU_FC_B),
                ("GELU_PROJ_W", GELU_PROJ_W),
                ("GELU_PROJ_B", GELU_PROJ_B),
            ],
            mlp_cases(),
        ),
        "position": (
            "position.rs",
            [("ROPE_X", ROPE_X), ("THETA_X", THETA_X), ("ROW_X", ROW_X)],
            rope_cases(),
        ),
    }
    ok = True
    for key in which:
        title, inputs, cases = sections[key]
        ok &= check(cases)
        section(title, inputs, cases, args.broken)
    if not ok:
        sys.exit("some wrong convention lands within 10x the tolerance: change the inputs")


if __name__ == "__main__":
    main()
