"""The backends that run a classifier: torch (eager, fp16 autocast on CUDA) and ONNX Runtime on
the CPU (a torch module exported once, cached, and checked against torch before it is used).

`module_classifier` chooses between them for a torch module; `BACKENDS` names the choices.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np

from .. import checks
from ..runs.files import atomic_write, file_sha256
from .base import PREPROCESS_KEY, Classifier, ModelError, Preprocess, cache_dir

BACKENDS = ("auto", "torch", "onnx")


def resolve_device(device: str) -> str:
    """The torch device to run on: auto is CUDA when there is one, else the CPU; cuda, cuda:N
    and mps are checked to be here (checks.device), in one line that says what is."""
    import torch

    checks.device(device, here=True)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() and torch.cuda.device_count() else "cpu"
    return device


def ieee_fp32() -> None:
    """fp32 on CUDA means fp32: cuDNN's convolutions otherwise run in TF32 (10-bit mantissa)
    by default on Ampere and later, which moves near-tied top-1s away from a CPU's."""
    import torch

    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")


class OnnxClassifier(Classifier):
    backend = "onnxruntime"

    def __init__(self, spec: str, path: str, preprocess: Preprocess | None = None, threads: int | None = None):
        """`preprocess` None: the one stored in the file's metadata, else ImageNet's."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        # Idle intra-op threads sleep instead of spinning: the cores are shared with the sweep's
        # decode + resize threads (and often other processes), and a spinning thread burns the
        # time they need. On two shared cores the model alone ran no slower for it.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.spec, self.path = spec, str(path)
        try:
            self.session = ort.InferenceSession(self.path, options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for bad files
            raise ModelError(f"{path}: not a loadable ONNX model ({str(e).strip().splitlines()[0]})") from None
        stored = self.session.get_modelmeta().custom_metadata_map.get(PREPROCESS_KEY)
        if preprocess is None and stored:
            d = json.loads(stored)
            preprocess = Preprocess(**{**d, "mean": tuple(d["mean"]), "std": tuple(d["std"])})
        self.preprocess = preprocess or Preprocess()
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ModelError(f"{path}: expected one input (NCHW float32 or NHWC uint8 images), found {len(inputs)}")
        self._input = inputs[0].name
        # uint8 (n, h, w, 3) pixels, normalised inside the graph (zoomhard's own exports), or
        # float32 (n, 3, h, w) normalised here with `preprocess`.
        self.pixels = inputs[0].type == "tensor(uint8)"
        out_shape = self.session.get_outputs()[0].shape
        self.num_classes = out_shape[-1] if isinstance(out_shape[-1], int) else 1000

    def infer(self, prepared: np.ndarray) -> np.ndarray:
        y = self.session.run(None, {self._input: prepared})[0]
        return y[:, self.label_offset:] if self.label_offset else y

    def prepare(self, crops, out: np.ndarray | None = None) -> np.ndarray:
        """uint8 (n, h, w, 3) crops as the model's input: the pixels themselves, or normalised
        float32 NCHW for a float model."""
        if not isinstance(crops, np.ndarray):  # a torch tensor from device-side cropping
            crops = crops.cpu().numpy()
        if self.pixels:
            return super().prepare(crops, out)
        return self.preprocess.normalize(crops, out)


class TorchClassifier(Classifier):
    backend = "torch"

    def __init__(self, spec: str, module, preprocess: Preprocess, device: str = "cpu", fp32: bool = False):
        """`fp32`: no fp16 autocast on CUDA (the study's numerics)."""
        import torch

        self.spec, self.preprocess, self.device, self.fp32 = spec, preprocess, device, fp32
        self._torch = torch
        if self.precision == "fp32" and device.startswith("cuda"):
            ieee_fp32()
        self.module = module.eval().to(device).to(memory_format=torch.channels_last)
        self._mean = torch.tensor(preprocess.mean, device=device).view(1, 3, 1, 1) * 255
        self._std = torch.tensor(preprocess.std, device=device).view(1, 3, 1, 1) * 255

    max_batch: int | None = None  # learned from out-of-memory errors

    @property
    def precision(self) -> str:
        """fp16 autocast on CUDA unless fp32 is asked for; the CPU always runs fp32.

        fp16 rather than bf16: both run on the tensor cores at the same rate, but bf16's 8-bit
        mantissa moved 6 % of EfficientNet-Lite0's top-1 predictions over the zoom grid away
        from fp32's (on an H200 and on CPUs alike) and fp16's 11 bits under 1 %."""
        return "fp16" if self.device.startswith("cuda") and not self.fp32 else "fp32"

    def infer(self, crops) -> np.ndarray:
        return self.logits(crops)

    def logits(self, crops) -> np.ndarray:
        """Batches too large for the device are split, and the size that fits is remembered."""
        torch = self._torch
        step = self.max_batch
        if step and len(crops) > step:  # `step` is fixed here: a chunk may lower max_batch again
            return np.concatenate([self.logits(crops[i:i + step]) for i in range(0, len(crops), step)])
        try:
            return self._logits(crops)
        except torch.OutOfMemoryError:
            if len(crops) <= 1:
                raise
            torch.cuda.empty_cache()
            self.max_batch = len(crops) // 2
            return self.logits(crops)

    def _logits(self, crops) -> np.ndarray:
        torch = self._torch
        cuda = self.device.startswith("cuda")
        if isinstance(crops, np.ndarray):
            x = torch.from_numpy(crops)
            if cuda:
                x = x.pin_memory().to(self.device, non_blocking=True)
        else:  # already a tensor, made on the device
            x = crops.to(self.device)
        x = x.permute(0, 3, 1, 2).float().sub_(self._mean).div_(self._std)
        x = x.contiguous(memory_format=torch.channels_last)
        half = self.precision == "fp16"
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=half):
            y = self.module(x).float().cpu().numpy()
        if half and not np.isfinite(y).all():  # an activation beyond fp16's range: this batch in fp32
            with torch.inference_mode():
                y = self.module(x).float().cpu().numpy()
        return y[:, self.label_offset:] if self.label_offset else y


def module_digest(module) -> str:
    h = hashlib.sha256()
    for k, v in module.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _pixels_module(module, preprocess: Preprocess):
    """module behind its normalisation: uint8 (n, h, w, 3) pixels in, logits out. ONNX Runtime
    then normalises inside the graph, in its own threads, as fast as it reads float input."""
    import torch

    class Pixels(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.module = module
            self.register_buffer("shift", torch.tensor(preprocess.mean).view(1, 3, 1, 1) * 255)
            self.register_buffer("scale", 1 / (torch.tensor(preprocess.std).view(1, 3, 1, 1) * 255))

        def forward(self, x):
            return self.module((x.permute(0, 3, 1, 2).float() - self.shift) * self.scale)

    return Pixels().eval()


def export_onnx(module, key: str, crop: int, preprocess: Preprocess | None = None) -> Path:
    """Export once per (weights, crop size, normalisation, torch version), cached under
    ZOOMHARD_CACHE. With `preprocess`, the file takes uint8 pixels (n, crop, crop, 3) and
    normalises them itself; its metadata records the preprocessing either way."""
    import torch

    tag = ""
    if preprocess is not None:  # the normalisation is part of the file
        tag = "-u8" + hashlib.sha256(repr((preprocess.mean, preprocess.std)).encode()).hexdigest()[:8]
    path = cache_dir() / "onnx" / f"{key}-{module_digest(module)}-c{crop}{tag}-t{torch.__version__}.onnx"
    # The export's sha256 sits beside it: a cached file cut short or damaged is exported again
    # (left alone, every later run would fall back to torch without saying why).
    check = path.with_name(path.name + ".sha256")
    if path.exists():
        if check.exists() and check.read_text().strip() == file_sha256(path):
            return path
        path.unlink()
    if preprocess is None:
        graph, example = module, torch.zeros(1, 3, crop, crop)
    else:
        graph, example = _pixels_module(module, preprocess), torch.zeros(1, crop, crop, 3, dtype=torch.uint8)

    def export(tmp: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(graph, example, str(tmp), input_names=["x"],
                              output_names=["logits"], dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}},
                              opset_version=17, dynamo=False)
        if preprocess is not None:  # the file carries its preprocessing: onnx:PATH then needs no flags
            import onnx

            model = onnx.load(str(tmp))
            entry = model.metadata_props.add()
            entry.key, entry.value = PREPROCESS_KEY, json.dumps(preprocess.to_dict())
            onnx.save(model, str(tmp))
        check.write_text(file_sha256(tmp) + "\n")

    atomic_write(path, export)
    return path


def takes_crops(classifier: Classifier, crop: int) -> Classifier:
    """classifier, once it has classified one crop: a model fixed to another input size (a ViT
    at 384, say) is refused now, in one line, rather than in the middle of a run."""
    try:
        classifier.logits(np.zeros((1, crop, crop, 3), dtype=np.uint8))
    except Exception as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        own = classifier.preprocess.input_size
        hint = f"; its own input size is {own}: --crop {own}" if own != crop else ""
        raise ModelError(f"{classifier.spec} cannot classify {crop}x{crop} crops ({reason}){hint}") from None
    return classifier


def _agrees(a: Classifier, b: Classifier, crop: int) -> bool:
    """Top-1 agreement on a fixed probe batch, ignoring near-ties of the reference."""
    rng = np.random.default_rng(0)
    probe = rng.integers(0, 256, size=(8, crop, crop, 3), dtype=np.uint8)
    probe[:4] = np.repeat(np.linspace(0, 255, crop, dtype=np.uint8)[None, :, None, None], 4, 0)  # smooth ones too
    la, lb = a.logits(probe), b.logits(probe)
    top2 = np.sort(la, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 1e-3
    return bool(np.all(la.argmax(1)[clear] == lb.argmax(1)[clear]))


def module_classifier(spec: str, module, preprocess: Preprocess, backend: str = "auto", device: str = "cpu",
                      crop: int | None = 224, key: str = "module", fp32: bool = False) -> Classifier:
    """A torch module as a Classifier: ONNX Runtime on CPU when `backend` allows (exported once
    under `key`, checked against torch, torch on disagreement), else torch on `device` (fp16
    autocast on CUDA unless `fp32`)."""
    if backend not in BACKENDS:
        raise ModelError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    crop = crop or preprocess.input_size
    eager = takes_crops(TorchClassifier(spec, module, preprocess, device, fp32=fp32), crop)
    if backend == "torch" or (backend == "auto" and device != "cpu"):
        return eager
    if device != "cpu":
        warnings.warn("the ONNX backend runs on the CPU; use --backend torch for the GPU")
    try:
        path = export_onnx(module, key, crop, preprocess)
        fast = OnnxClassifier(spec, path, preprocess)
    except Exception as e:  # an export failure should cost speed, not the run
        warnings.warn(f"ONNX export of {spec} failed ({type(e).__name__}: {e}); running eager torch")
        return eager
    if not _agrees(eager, fast, crop):
        warnings.warn(f"ONNX Runtime disagrees with torch on {spec}; running eager torch")
        return eager
    return fast
