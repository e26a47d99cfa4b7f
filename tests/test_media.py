"""Requests with media (issue #34): recognised in every form HELM saves them, priced with their
media where the registry states the model's image rule, else withheld with a reason, never
priced as text only; the same in the live metric, rescore's read and `estimate`."""

import json

import numpy as np
import pandas as pd
import pytest
from helm.benchmark.adaptation.adapter_spec import AdapterSpec
from helm.benchmark.adaptation.request_state import RequestState
from helm.benchmark.adaptation.scenario_state import ScenarioState
from helm.benchmark.scenarios.scenario import Input, Instance
from helm.common.general import asdict_without_nones
from helm.common.image_generation_parameters import ImageGenerationParameters
from helm.common.media_object import MediaObject, MultimediaObject
from helm.common.request import GeneratedOutput, Request, RequestResult

from helm_efficiency.pricing.spec import EfficiencySpec
from helm_efficiency.helm_io import decoders as helm_json
from helm_efficiency.helm_io.states import from_helm, from_json
from helm_efficiency.analytic import flops as F
from helm_efficiency.analytic.vision import vision_rule
from helm_efficiency.pricing.efficiency import efficiency_columns
from helm_efficiency.pricing.estimate import estimate_idealized, load_tables
from helm_efficiency.pricing.estimate_csv import estimate_csv
from helm_efficiency.helm.stats import run_count_values
from helm_efficiency.pricing.media_price import REASON_MEDIA
from helm_efficiency.request_table.table import request_rows
from helm_efficiency.tables.calibrate import calibrate_table

from conftest import synthetic_measurements

GEMMA = "google/medgemma-4b-it"  # HELM's model (deployment huggingface/medgemma-4b-it): Gemma 3 4B, in the registry with its image rule
QUESTION = "What does the image show?"


def count_words(text):
    return len(text.split())


def multimodal(*media):
    """A HELM multimodal prompt: the media (content type, location), then the question."""
    return MultimediaObject([MediaObject(content_type=t, location=loc) for t, loc in media]
                            + [MediaObject(content_type="text/plain", text=QUESTION)])


def state(request, i=0, completions=None, success=True):
    instance = Instance(Input(text=""), references=[], split="test", id=f"id{i}")
    result = RequestResult(success=success, embedding=[], cached=False, request_time=1.0 + i, request_datetime=100 + i,
                           completions=completions if completions is not None else [GeneratedOutput(text="a cat", logprob=0.0, tokens=[])])
    return RequestState(instance=instance, reference_index=None, request_mode=None, train_trial_index=0, output_mapping=None,
                        request=request, result=result, num_train_instances=0, prompt_truncated=False)


def image_request(*media, model=GEMMA):
    return Request(model=model, model_deployment="huggingface/medgemma-4b-it",
                   multimodal_prompt=multimodal(*(media or [("image/jpeg", "https://example.org/cat.jpg")])))


def saved(states):
    """The request states as helm-run saves them in scenario_state.json (asdict_without_nones)."""
    return json.loads(json.dumps({"request_states": [asdict_without_nones(s) for s in states]}))


def three_forms(states):
    """The typed request states (helm_io/states.py) from HELM's objects (the live metric), from
    the saved JSON parsed in full (rescore's lenient path), and from its typed partial decode
    (rescore's fast path)."""
    data = saved(states)
    return {"objects": from_helm(states), "json": from_json(data["request_states"]),
            "typed": helm_json.SCENARIO_STATE.decode(json.dumps(data).encode()).request_states}


@pytest.mark.parametrize("form", ["objects", "json", "typed"])
def test_media_recognised_in_every_form_helm_saves_them(form):
    states = [
        state(image_request(), 0),
        state(image_request(("image/png", "https://example.org/a.png"), ("image/jpeg", "https://example.org/b.jpg")), 1),
        state(image_request(("audio/wav", "https://example.org/a.wav")), 2),
        state(image_request(("video/mp4", "https://example.org/a.mp4")), 3),
        state(Request(model=GEMMA, model_deployment="huggingface/medgemma-4b-it", prompt=QUESTION), 4),
    ]
    forms = three_forms(states)
    assert forms["objects"] == forms["json"] == forms["typed"]  # one shape, whatever it came from
    rows = request_rows(forms[form], count_words)
    assert rows["media_kind"].tolist() == ["image", "image", "audio", "video", None]
    assert rows["num_media"].tolist() == [1, 2, 1, 1, 0]
    # The prompt's text is counted (the saved JSON has no multimodal_prompt.text: it is a property in HELM).
    assert rows["num_prompt_tokens"].tolist() == [count_words(QUESTION)] * 5


@pytest.mark.parametrize("form", ["objects", "json", "typed"])
def test_generated_images_are_media_even_when_none_came_back(form):
    heim = Request(model="huggingface/stable-diffusion-v1-4", model_deployment="huggingface/stable-diffusion-v1-4", prompt="a cat",
                   num_completions=4, image_generation_parameters=ImageGenerationParameters(output_image_width=512))
    image = GeneratedOutput(text="", logprob=0.0, tokens=[],
                            multimodal_content=MultimediaObject([MediaObject(content_type="image/png", location="https://example.org/0.png")]))
    states = [state(heim, 0, completions=[image, image]), state(heim, 1, completions=[], success=False)]
    forms = three_forms(states)
    assert forms["objects"] == forms["json"] == forms["typed"]
    rows = request_rows(forms[form], count_words)
    assert rows["media_kind"].tolist() == ["generated_image", "generated_image"]
    assert rows["num_media"].tolist() == [2, 4]


def requests(model, kinds, counts, p=30, o=10):
    return pd.DataFrame({"model": model, "num_prompt_tokens": p, "num_output_tokens": o, "media_kind": kinds, "num_media": counts})


def test_an_image_for_a_model_without_an_image_rule_gets_no_price_and_a_reason():
    # Llama 3.1 8B is calibrated on the default stack: before issue #34 its image requests got a text-only price.
    llama = dict(model="meta/llama-3.1-8b", model_deployment="together/llama-3.1-8b-instruct-turbo")
    states = [state(Request(**llama, multimodal_prompt=multimodal(("image/jpeg", "https://example.org/cat.jpg"))), 0),
              state(Request(**llama, prompt=QUESTION), 1)]
    table, _ = efficiency_columns(request_rows(from_json(saved(states)["request_states"]), count_words), EfficiencySpec.build(tables=["h100-trtllm"]))
    image, text = table.iloc[0], table.iloc[1]
    for column in ("idealized_runtime_s", "idealized_energy_j", "idealized_cost_usd", "served_gpu_s", "served_cost_usd"):
        assert np.isnan(image[column]) and np.isfinite(text[column]), column
    assert image["unestimated_reason"].startswith(REASON_MEDIA) and "no image-processing rule" in image["unestimated_reason"]
    assert image["served_reason"].startswith(REASON_MEDIA)
    assert image["method"] is None and text["method"] == "calibrated"
    counts = dict(run_count_values(table))
    assert counts["efficiency_num_media_requests"] == 1 and counts["efficiency_num_unestimated_requests"] == 1
    assert counts["efficiency_num_calibrated_requests"] == 1


def test_audio_video_and_generated_media_are_never_priced_even_for_a_vision_language_model():
    table = estimate_idealized(requests(GEMMA, ["audio", "video", "generated_image", "audio+image"], [1, 1, 1, 2]),
                               load_tables(["h100-trtllm"]), name_columns=("model",))
    assert table["idealized_runtime_s"].isna().all()
    assert table["unestimated_reason"].str.startswith(REASON_MEDIA).all()


def test_gemma3_image_tokens_enter_the_prompt_and_its_vision_encoder_prefill():
    rule = vision_rule([GEMMA])
    assert (rule.model, rule.tokens_per_image, rule.patches_per_image) == ("google/gemma-3-4b", 256, (896 // 14) ** 2)
    tables = load_tables(["h100-trtllm"])
    frame = pd.concat([requests(GEMMA, ["image", "image"], [1, 2], p=30, o=10), requests(GEMMA, [None, None], [0, 0], p=[30 + 256, 30 + 512], o=10)],
                      ignore_index=True)
    table = estimate_idealized(frame, tables, name_columns=("model",))
    one, two, text_one, text_two = (table.iloc[i] for i in range(4))
    assert one["num_media_tokens"] == 256 and two["num_media_tokens"] == 512 and text_one["num_media_tokens"] == 0
    assert one["vision_encoder_s"] > 0 and two["vision_encoder_s"] == pytest.approx(2 * one["vision_encoder_s"])
    # The image request costs the text request of the same prompt length plus its encoder.
    assert one["idealized_runtime_s"] == pytest.approx(text_one["idealized_runtime_s"] + one["vision_encoder_s"])
    assert two["idealized_runtime_s"] == pytest.approx(text_two["idealized_runtime_s"] + two["vision_encoder_s"])
    assert one["idealized_runtime_lo_s"] < one["idealized_runtime_s"] < one["idealized_runtime_hi_s"]
    # The encoder runs in prefill: its seconds are billed at prefill power, not at decode power.
    from helm_efficiency.analytic.hardware import hardware_spec

    spec = hardware_spec(one["reference_hardware"])
    extra_energy = one["idealized_energy_j"] - text_one["idealized_energy_j"]
    gpus = text_one["idealized_cost_usd"] / (text_one["idealized_runtime_s"] / 3600 * spec.usd_per_gpu_hour)
    assert extra_energy == pytest.approx(one["vision_encoder_s"] * gpus * spec.power_prefill_w, rel=1e-6)
    assert pd.isna(one["unestimated_reason"]) and one["method"] == text_one["method"]


def test_a_stack_without_a_transfer_model_cannot_price_the_encoder():
    # A user's table that calibrates the model on hardware with no roofline specs: its text is priced, its images are not.
    table = calibrate_table(synthetic_measurements(model="google/gemma-3-4b"), name="mine")
    out = estimate_idealized(requests(GEMMA, ["image", None], [1, 0]), [table], name_columns=("model",))
    image, text = out.iloc[0], out.iloc[1]
    assert np.isfinite(text["idealized_runtime_s"]) and np.isnan(image["idealized_runtime_s"])
    assert image["unestimated_reason"].startswith(REASON_MEDIA) and "no transfer model on testhw" in image["unestimated_reason"]


def test_encoder_attention_is_bidirectional():
    arch = {"num_layers": 2, "hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 128}
    causal = F.attention_flops(arch, 100, 0)
    assert F.attention_flops({**arch, "bidirectional": 1}, 100, 0) == pytest.approx(causal * 100 * 100 / (100 * 101 / 2))


def test_estimate_csv_reads_the_media_columns_and_refuses_bad_counts(tmp_path):
    path = tmp_path / "requests.csv"
    requests("meta/llama-3.1-8b", ["image", None], [1, None]).to_csv(path, index=False)
    out = estimate_csv(str(path), str(tmp_path / "out.csv"), spec=EfficiencySpec.build(tables=["h100-trtllm"]))
    assert np.isnan(out.iloc[0]["idealized_runtime_s"]) and np.isfinite(out.iloc[1]["idealized_runtime_s"])
    requests("meta/llama-3.1-8b", ["image"], [-1]).to_csv(path, index=False)
    with pytest.raises(Exception, match="num_media"):
        estimate_csv(str(path), str(tmp_path / "out.csv"), spec=EfficiencySpec.build(tables=["h100-trtllm"]))


class WordWindow:
    """The window service's one method the metric calls (HELM's would load the model's tokenizer)."""

    def get_num_tokens(self, text):
        return count_words(text)


def test_live_metric_prices_images_with_their_media_and_counts_the_rest(monkeypatch):
    from helm_efficiency.helm import metric

    monkeypatch.setattr(metric.WindowServiceFactory, "get_window_service", staticmethod(lambda deployment, service: WordWindow()))
    states = [state(image_request(), i) for i in range(3)]
    states += [state(image_request(("audio/wav", "https://example.org/a.wav")), 3),
               state(Request(model=GEMMA, model_deployment="huggingface/medgemma-4b-it", prompt=QUESTION), 4)]
    spec = AdapterSpec(model_deployment="huggingface/medgemma-4b-it", model=GEMMA)
    result = metric.InferenceEfficiencyMetric().evaluate(ScenarioState(spec, states), None, "", 1)
    stats = {s.name.name: s for s in result.aggregated_stats if s.name.perturbation is None and s.name.split == "test"}
    assert stats["efficiency_num_media_requests"].mean == 4
    assert stats["efficiency_num_unestimated_requests"].mean == 1  # the audio request
    assert stats["efficiency_num_unserved_requests"].mean == 4  # no served number for any media request
    ideal = {inst.instance_id: {s.name.name: s.mean for s in inst.stats} for inst in result.per_instance_stats}
    assert "efficiency_idealized_runtime_s" not in ideal["id3"]
    assert ideal["id0"]["efficiency_idealized_runtime_s"] > ideal["id4"]["efficiency_idealized_runtime_s"]
