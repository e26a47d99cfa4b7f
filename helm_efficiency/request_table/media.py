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

Works on HELM's objects, plain dicts and the typed partial decode (helm_json) alike.
"""

from dataclasses import dataclass
from typing import Any, Dict, Iterable, Optional, Tuple

TEXT = "text"
GENERATED = "generated_"  # prefix of a kind the model produced (generated_image)


def field(obj: Any, name: str, default: Any = None) -> Any:
    """`obj.name` or `obj[name]`: HELM's objects arrive as dataclasses, typed Structs or parsed dicts."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def media_type(content_type: Any) -> str:
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


def _objects(multimedia: Any) -> Iterable[Any]:
    return field(multimedia, "media_objects") or []


def multimodal_text(request: Any) -> Optional[str]:
    """The text of a multimodal prompt (HELM's MultimediaObject.text: its text objects joined),
    or None when the request has no multimodal prompt."""
    multimodal = field(request, "multimodal_prompt")
    if multimodal is None:
        return None
    return "".join(str(field(o, "text") or "") for o in _objects(multimodal) if media_type(field(o, "content_type")) == TEXT)


def request_media(request: Any, result: Any = None) -> Media:
    """The non-text media a request sent (multimodal prompt) and its result generated."""
    counts: Dict[str, int] = {}
    for obj in _objects(field(request, "multimodal_prompt")):
        kind = media_type(field(obj, "content_type"))
        if kind != TEXT:
            counts[kind] = counts.get(kind, 0) + 1
    generated: Dict[str, int] = {}
    for completion in field(result, "completions") or []:
        for obj in _objects(field(completion, "multimodal_content")):
            kind = media_type(field(obj, "content_type"))
            if kind != TEXT:
                generated[GENERATED + kind] = generated.get(GENERATED + kind, 0) + 1
    if field(request, "image_generation_parameters") is not None and not generated:
        generated[GENERATED + "image"] = int(field(request, "num_completions", 1) or 1)  # asked for, none came back
    counts.update(generated)
    return Media(tuple(sorted(counts.items())))
