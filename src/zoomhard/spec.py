"""Model and data specs split into their parts in one place, as written: no lookup, no check.

    ModelSpec   'torchvision:resnet50.IMAGENET1K_V1' -> source 'torchvision', name 'resnet50',
                tag 'IMAGENET1K_V1'; 'open_clip:ViT-B-32/openai' -> tag 'openai'; a bare
                'lite0' -> source ''. Only torchvision ('.TAG') and open_clip ('/TAG') put a
                weights tag in the spec; timm's '.tag' is part of its model name, an onnx: path
                and an hfmodel: repository are kept whole.
    DataSpec    'parquet:PATH', 'hf:REPO...' -> source and the rest; 'samples' or a folder ->
                source ''.

Which sources exist, and whether a name is valid, is for models.registry (`parse_spec`) and
data (`open_source`) to say.
"""

from __future__ import annotations

from dataclasses import dataclass

TAG_SEPARATORS = {"torchvision": ".", "open_clip": "/"}


@dataclass(frozen=True)
class ModelSpec:
    source: str          # '' for a bare name
    name: str            # the model's name, without its tag
    tag: str | None      # None without a separator; '' for one with nothing after it

    @classmethod
    def parse(cls, spec: str) -> "ModelSpec":
        source, sep, body = spec.partition(":")
        if not sep:
            return cls("", spec, None)
        if source not in TAG_SEPARATORS:
            return cls(source, body, None)
        name, tagged, tag = body.partition(TAG_SEPARATORS[source])
        return cls(source, name, tag if tagged else None)

    @property
    def body(self) -> str:
        """What follows 'source:': the name with its tag."""
        return self.name if self.tag is None else f"{self.name}{TAG_SEPARATORS[self.source]}{self.tag}"

    @property
    def base(self) -> str:
        """The spec without its tag: 'torchvision:resnet50'."""
        return f"{self.source}:{self.name}" if self.source else self.name


@dataclass(frozen=True)
class DataSpec:
    source: str          # 'parquet', 'hf', ...; '' for samples or a folder
    rest: str            # what follows 'source:'; the whole spec for a folder

    @classmethod
    def parse(cls, spec: str) -> "DataSpec":
        source, sep, rest = spec.partition(":")
        return cls(source, rest) if sep else cls("", spec)


def onnx_path(spec: str) -> str | None:
    """The file an onnx:PATH spec names; None for other specs."""
    ms = ModelSpec.parse(spec)
    return ms.body if ms.source == "onnx" else None
