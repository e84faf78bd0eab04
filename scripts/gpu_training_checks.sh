#!/usr/bin/env bash
# Training checks for a lent GPU machine; called by scripts/gpu_check.sh, also runs alone.
# The machine reaches no registry, so the smoke test trains on synthetic 28x28x3 data.
# Writes logs under ${OUT:-gpu-results}/. About 3-4 minutes on an H100.
set -uo pipefail
cd "$(dirname "$0")/.."
export OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 CUBLAS_WORKSPACE_CONFIG=:4096:8
status=0
# 1. smoke test: the paper's models fit random labels on CUDA (bf16 autocast, channels-last),
#    the same seed twice gives the same curve, and torch.compile trains too.
timeout 300 python - <<'PY' 2>&1 | tee "$OUT/training_smoke.log" || status=1
import json, os, time, numpy as np, torch
from finite_expressivity.data import ImageDataset, make_variant
from finite_expressivity.randomization.models import model_config, PAPER_LR
from finite_expressivity.randomization.training import TrainConfig, train
rng = np.random.default_rng(0)
ds = ImageDataset(name="synthetic", n_classes=10, sha256="-",
                  train_images=rng.integers(0, 256, (1024, 3, 28, 28), dtype=np.uint8),
                  train_labels=rng.integers(0, 10, 1024), test_images=rng.integers(0, 256, (512, 3, 28, 28), dtype=np.uint8),
                  test_labels=rng.integers(0, 10, 512))
data = make_variant(ds, "random-labels", seed=0)
out = {"device": torch.cuda.get_device_name(0)}
for name in ("inception", "alexnet", "mlp1x512", "mlp3x512"):
    cfg = TrainConfig(lr=PAPER_LR[name], max_steps=3000, log_every=10)
    t = time.time()
    a = train(model_config(name), data, cfg, init_seed=0, device="cuda")
    b = train(model_config(name), data, cfg, init_seed=0, device="cuda")
    out[name] = {"steps_to_fit": a.steps_to_fit, "train_acc": a.final_train_accuracy,
                 "test_acc": a.test_accuracy, "seconds": a.seconds, "wall": time.time() - t,
                 "same_curve": a.history == b.history}
    print(name, out[name], flush=True)
    assert a.steps_to_fit is not None, f"{name} did not fit 1024 random labels"
    assert a.history == b.history, f"{name}: same seed, different curve on CUDA"
c = train(model_config("inception"), data, TrainConfig(lr=0.1, max_steps=40, compile=True), init_seed=0, device="cuda")
out["compile"] = {"steps": c.steps, "loss": c.final_train_loss}
print("compile", out["compile"])
json.dump(out, open(os.path.join(os.environ["OUT"], "training_smoke.json"), "w"), indent=2)
PY
# 2. the GPU tests of the training modules
#    (skipped when scripts/gpu_check.sh has just run every GPU test)
if [ -z "${FE_GPU_TESTS_DONE:-}" ]; then
  python -m pytest -q -m gpu -p no:cacheprovider tests/test_training.py 2>&1 | tee "$OUT/training_gpu_tests.log" || status=1
fi
# 3. throughput per model, ratios against fp32/contiguous/eager in the same process
timeout 240 python benchmarks/training.py --device cuda --compile 2>&1 | tee "$OUT/training_bench.log" || status=1
exit $status
