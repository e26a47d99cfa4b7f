"""Media in HELM requests: which requests carry images, audio or video, and how many.

HELM keeps media in `helm.common.media_object.MediaObject`s, each with a MIME `content_type`
("image/jpeg", "audio/wav", "video/mp4", "text/plain") and a `location` (file or URL) or a
`text`. A saved request (scenario_state.json, HELM's dataclasses as JSON) holds them in:

- ``request.multimodal_prompt.media_objects``: the input of vision-language (VHELM), audio
  (AHELM) and video runs. The saved JSON has no ``text`` field there: HELM's
  ``MultimediaObject.text`` is a property, the join of the text objects' ``text``;
- ``result.completions[].multimodal_content.media_objects``: generated media (HEIM's
  text-to-image images);
- ``request.image_generation_parameters``: a request for generated images (HEIM), even when its
  result has none (a failed request).

Reads the request-state Structs (helm_io/states.py), the one shape every request state takes.
"""

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from helm_efficiency.helm_io.states import MultimediaObject, Request, Result

TEXT = "text"
GENERATED = "generated_"  # prefix of a kind the model produced (generated_image)


def media_type(content_type: Optional[str]) -> str:
    """The MIME type's top level (HELM's MediaObject.type): "image", "audio", "video", "text"; "unknown" when missing."""
    return str(content_type).split("/")[0].strip().lower() if content_type else "unknown"


@dataclass(frozen=True)
class Media:
    """The media of one request: how many objects of each kind (input kinds as HELM names
    them, generated ones prefixed `generated_`). Empty for a text request."""

    counts: Tuple[Tuple[str, int], ...] = ()

    @property
    def count(self) -> int:
        return sum(n for _, n in self.counts)

    @property
    def kind(self) -> Optional[str]:
        """The kinds, sorted and '+'-joined ("image", "audio+image", "generated_image"), or None."""
        return "+".join(k for k, _ in self.counts) or None


def multimodal_text(request: Request) -> Optional[str]:
    """The text of a multimodal prompt (HELM's MultimediaObject.text: its text objects joined),
    or None when the request has no multimodal prompt."""
    multimodal = request.multimodal_prompt
    if multimodal is None:
        return None
    return "".join(str(o.text or "") for o in multimodal.media_objects if media_type(o.content_type) == TEXT)


def _count(multimedia: Optional[MultimediaObject], counts: Dict[str, int], prefix: str = "") -> None:
    """Add `multimedia`'s non-text objects to `counts`, by kind (prefixed)."""
    for obj in multimedia.media_objects if multimedia is not None else ():
        kind = media_type(obj.content_type)
        if kind != TEXT:
            counts[prefix + kind] = counts.get(prefix + kind, 0) + 1


def request_media(request: Request, result: Optional[Result] = None) -> Media:
    """The non-text media a request sent (multimodal prompt) and its result generated."""
    counts: Dict[str, int] = {}
    _count(request.multimodal_prompt, counts)
    generated: Dict[str, int] = {}
    for completion in (result.completions if result is not None else None) or ():
        _count(completion.multimodal_content, generated, GENERATED)
    if request.image_generation_parameters is not None and not generated:
        generated[GENERATED + "image"] = int(request.num_completions or 1)  # asked for, none came back
    counts.update(generated)
    return Media(tuple(sorted(counts.items())))
