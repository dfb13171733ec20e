"""cpu_kernels: pinned CPU code paths give the same bits whatever the CPU's instruction set or
thread count (serlib.study.kernels)."""

import os
import subprocess
import sys

import pytest
import torch

from serlib.common.errors import SerlibError
from serlib.study.config import load_config
from serlib.study.kernels import PINNED, check_setting, kernel_variables, pinned_kernels

# trains a small MLP with Adam and prints a hash of its weights: matrix products of the shapes
# the frame-level probes use, whose float32 sums MKL orders by code path and thread count
TRAINING = """
import hashlib, torch
torch.manual_seed(0)
x, y = torch.randn(2048, 512), torch.randint(0, 7, (2048,))
model = torch.nn.Sequential(torch.nn.Linear(512, 256), torch.nn.ReLU(), torch.nn.Linear(256, 7))
optimiser = torch.optim.Adam(model.parameters(), 1e-3)
for step in range(60):
    rows = torch.randint(0, 2048, (1600,))
    loss = torch.nn.functional.cross_entropy(model(x[rows]), y[rows])
    optimiser.zero_grad(); loss.backward(); optimiser.step()
print(hashlib.sha256(torch.cat([p.detach().flatten() for p in model.parameters()]).numpy().tobytes()).hexdigest())
"""


def weights_hash(environment: dict[str, str]) -> str:
    variables = {name: value for name, value in os.environ.items()
                 if name not in ("MKL_CBWR", "ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "OMP_NUM_THREADS",
                                 "MKL_ENABLE_INSTRUCTIONS")}
    result = subprocess.run([sys.executable, "-c", TRAINING], env={**variables, **environment},
                            capture_output=True, text=True, timeout=300, check=True)
    return result.stdout.strip()


@pytest.mark.skipif(not torch.backends.mkl.is_available(), reason="torch without MKL")
def test_pinned_kernels_give_the_same_weights_for_any_thread_count_and_instruction_set():
    pinned = kernel_variables("avx2")
    one_thread = weights_hash({**pinned, "OMP_NUM_THREADS": "1"})
    two_threads = weights_hash({**pinned, "OMP_NUM_THREADS": "2"})
    # a CPU whose MKL stops at AVX2, as on a machine without AVX512
    avx2_machine = weights_hash({**pinned, "OMP_NUM_THREADS": "2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"})
    assert one_thread == two_threads, "1 and 2 threads gave other weights under the pinned kernels"
    assert two_threads == avx2_machine, "the AVX2-only MKL gave other weights under the pinned kernels"


def test_pinned_kernels_set_what_is_unset_and_restore_it(monkeypatch):
    monkeypatch.delenv("MKL_CBWR", raising=False)
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")  # the user's own choice is kept
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    with pinned_kernels("avx2") as variables:
        assert os.environ["MKL_CBWR"] == PINNED["avx2"]["MKL_CBWR"] == variables["MKL_CBWR"]
        assert os.environ["ATEN_CPU_CAPABILITY"] == "default"
    assert "MKL_CBWR" not in os.environ and "ONEDNN_MAX_CPU_ISA" not in os.environ
    assert os.environ["ATEN_CPU_CAPABILITY"] == "default"
    with pinned_kernels("native") as variables:
        assert variables["MKL_CBWR"] is None


def test_the_demo_pins_its_kernels_and_an_unknown_setting_names_the_file(tmp_path):
    assert load_config("demo").cpu_kernels == "avx2"
    assert load_config("paper").cpu_kernels == "native"
    with pytest.raises(SerlibError, match=r"p\.yaml: cpu_kernels 'avx9' unknown; use one of native, avx2"):
        check_setting("avx9", tmp_path / "p.yaml")
