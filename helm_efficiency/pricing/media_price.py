"""Media in the idealized price, or the reason there is none.

A request that carried media (requests table columns `media_kind`, `num_media`; media.py) is
priced only when its model's registry entry states how the model turns an image into prompt
tokens (analytic/vision.py): the image tokens join the prompt, and the vision encoder's
forward pass over the image's patches joins prefill, priced on the same reference stack by its
transfer model from the encoder's own dimensions. Every other media request (audio, video,
generated images, an image for a model without a stated rule, a stack without a transfer
model) gets no idealized number and an `unestimated_reason` starting "media not priced", never
a text-only price.
"""

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, cast

import numpy as np
import pandas as pd

from helm_efficiency.analytic.vision import VisionRule, vision_rule
from helm_efficiency.helm_io.catalog import HELM_ONLY, Catalog
from helm_efficiency.request_table.media import GENERATED
from helm_efficiency.tables.cost_table import ReferenceEntry

REASON_MEDIA = "media not priced"
IMAGE = "image"


MEDIA_COLUMNS = ("media_kind", "num_media")  # the requests-table columns media_columns reads


def media_columns(rows: pd.DataFrame) -> Tuple[np.ndarray, np.ndarray]:
    """(kinds, counts) of `rows`: the media_kind strings (None for text) and num_media counts (0
    for text); a table without the columns (a requests CSV of text requests) has no media."""
    n = len(rows)
    counts = pd.to_numeric(rows["num_media"], errors="coerce").fillna(0).to_numpy(float) if "num_media" in rows else np.zeros(n)
    kinds = rows["media_kind"].astype(object).where(rows["media_kind"].notna(), None).to_numpy() if "media_kind" in rows else np.full(n, None)
    return kinds, counts


def has_media(rows: pd.DataFrame) -> np.ndarray:
    """True for each row whose request carried or generated media."""
    kinds, counts = media_columns(rows)
    return cast(np.ndarray, (counts > 0) | np.array([bool(k) for k in kinds], bool))


@dataclass
class MediaPlan:
    """One model's requests: tokens the media add to each prompt (0 for text requests), the
    images each priced request puts through the encoder, and why the others are not priced."""

    rule: Optional[VisionRule]
    tokens: np.ndarray
    images: np.ndarray
    reasons: np.ndarray  # None, or the reason (starting REASON_MEDIA)

    @property
    def withheld(self) -> np.ndarray:
        return np.array([r is not None for r in self.reasons], bool)

    def withhold(self, mask: np.ndarray, reason: str) -> None:
        self.reasons[mask & ~self.withheld] = reason
        self.tokens[mask] = 0
        self.images[mask] = 0


def media_plan(names: Sequence[Optional[str]], rows: pd.DataFrame, *, catalog: Catalog = HELM_ONLY) -> MediaPlan:
    """What each request's media add to its price, for the model known by `names` (resolved in `catalog`)."""
    kinds, counts = media_columns(rows)
    n = len(rows)
    plan = MediaPlan(None, np.zeros(n), np.zeros(n), np.full(n, None, dtype=object))
    carried = has_media(rows)
    if not carried.any():
        return plan
    name = next((str(x) for x in names if x), "this model")
    plan.rule = vision_rule(names, catalog)
    for i in np.flatnonzero(carried):
        parts = str(kinds[i] or "unknown").split("+")
        generated = [k for k in parts if k.startswith(GENERATED)]
        other = [k for k in parts if k != IMAGE and not k.startswith(GENERATED)]
        if generated:
            plan.reasons[i] = (f"{REASON_MEDIA}: the request generated media ({', '.join(generated)}); no reference stack "
                               "prices media generation")
        elif other:
            plan.reasons[i] = (f"{REASON_MEDIA}: {', '.join(other)} input, which no registry rule turns into tokens "
                               "(only images, for the vision-language models whose entry states how)")
        elif plan.rule is None:
            plan.reasons[i] = (f"{REASON_MEDIA}: {int(counts[i])} image(s), and {name} has no image-processing rule in the "
                               "architecture registry (its image tokens and vision encoder are unknown)")
        else:
            plan.tokens[i] = counts[i] * plan.rule.tokens_per_image
            plan.images[i] = counts[i]
    return plan


def encoder_seconds(plan: MediaPlan, encoder_entry: ReferenceEntry) -> Optional[pd.DataFrame]:
    """Vision-encoder seconds per request (runtime_s, runtime_lo_s, runtime_hi_s, extrapolated):
    each image's patches through `encoder_entry` (a transfer entry of the encoder's dimensions
    on the stack) at batch 1, one image after another. None when nothing is priced."""
    if plan.rule is None or not (plan.images > 0).any():
        return None
    one = encoder_entry.predict(np.array([float(plan.rule.patches_per_image)]), np.array([1.0])).iloc[0]
    out = pd.DataFrame({c: plan.images * float(one[c]) for c in ("runtime_s", "runtime_lo_s", "runtime_hi_s")})
    out["extrapolated"] = (plan.images > 0) & bool(one["extrapolated"])
    return out


def media_counts(table: pd.DataFrame) -> Tuple[int, int]:
    """(requests that carried or generated media, those of them with no idealized price because
    of their media) in a priced requests table."""
    media = has_media(table)
    reasons = table["unestimated_reason"] if "unestimated_reason" in table else pd.Series(None, index=table.index, dtype=object)
    unpriced = media & reasons.fillna("").astype(str).str.startswith(REASON_MEDIA).to_numpy()
    return int(media.sum()), int(unpriced.sum())
