"""Image tokens and the vision encoder of the vision-language models in the registry.

A registry entry (registry.json) may carry a `vision` block: the model's own image-processing
rule and its vision encoder's config, each with the source that states them. One rule is known:

- ``fixed_tokens_per_image``: every image is resized to `image_size` × `image_size` pixels, so
  (image_size / patch_size)² patches enter the encoder and `tokens_per_image` tokens enter the
  prompt, whatever the image's own size (Gemma 3: `mm_tokens_per_image`, SigLIP at 896 px).

Rules whose token count depends on the image's size (Pixtral, Qwen2-VL, Llama 4 tiles) or that
feed images through cross-attention instead of the prompt (Llama 3.2 Vision) have no block, so
their image requests are not priced (media_price.py says why).
"""

from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence

from helm_efficiency.analytic.architecture import architecture_from_config
from helm_efficiency.analytic.registry import REGISTRY_PATH, registry_entry
from helm_efficiency.helm_io.catalog import HELM_ONLY, Catalog
from helm_efficiency.errors import EfficiencyInputError

FIXED = "fixed_tokens_per_image"
RULES = (FIXED,)


@dataclass(frozen=True)
class VisionRule:
    """How one model turns an image into prompt tokens and encoder work."""

    model: str  # registry key
    tokens_per_image: int  # tokens each image adds to the prompt
    patches_per_image: int  # tokens each image puts through the encoder
    encoder: Dict[str, int]  # the encoder's architecture columns (bidirectional)
    source: str


def vision_rule(names: Sequence[Optional[str]], catalog: Catalog = HELM_ONLY) -> Optional[VisionRule]:
    """The rule of the first of `names` whose registry entry (names resolved in `catalog`) has a `vision` block, else None."""
    for name in names:
        entry = registry_entry(name, catalog) if name else None
        if entry and entry.get("vision"):
            return _rule(entry["key"], entry["vision"])
    return None


def _rule(key: str, block: Dict[str, Any]) -> VisionRule:
    source = f"{REGISTRY_PATH}: {key}: vision"
    if block.get("rule") not in RULES:
        raise EfficiencyInputError(source, "rule", f"{block.get('rule')!r} is not one of {', '.join(RULES)}")
    config = dict(block.get("config") or {})
    for field, value in (("tokens_per_image", block.get("tokens_per_image")), ("image_size", block.get("image_size")),
                         ("config.patch_size", config.get("patch_size"))):
        if not isinstance(value, int) or value <= 0:
            raise EfficiencyInputError(source, field, f"is {value!r}; expected a positive whole number")
    side = block["image_size"] // config["patch_size"]
    encoder = architecture_from_config(config, source + ".config")
    encoder.pop("vocab_size", None)  # no embedding table or LM head: patches come in through a convolution
    encoder["bidirectional"] = 1
    return VisionRule(key, int(block["tokens_per_image"]), side * side, encoder, str(block.get("source", "")))
