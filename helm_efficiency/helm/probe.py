"""An offline synthetic-efficiency probe: a small designed (p, o) grid for any deployment.

HELM's `synthetic_efficiency` scenario downloads its prompts; this one builds them from
synthetic text, so it runs offline. Prompts repeat common one-token English words, so a
prompt of n words is about n tokens for BPE tokenizers (one token per byte for byte-level
ones). Denoising uses the actual token counts, so exactness is not needed.

    helm-run --run-entries "efficiency_probe:num_output_tokens=8,model=openai/gpt2" ...
    helm-run --conf-paths run_specs/efficiency_probe.conf --models-to-run MODEL ...   # o = 1, 8 and 32
"""

from typing import List

from helm.benchmark.adaptation.adapter_spec import ADAPT_GENERATION, AdapterSpec
from helm.benchmark.run_spec import RunSpec, run_spec_function
from helm.benchmark.scenarios.scenario import CORRECT_TAG, TEST_SPLIT, Input, Instance, Output, Reference, Scenario, ScenarioSpec

from helm_efficiency.helm.run_expander import efficiency_metric_spec, tables_from_value
from helm_efficiency.stacks import DEFAULT_TABLE

WORDS = ("the", "cat", "sat", "on", "a", "mat", "and", "then", "it", "ran", "to", "the", "old", "red", "barn", "door")
DEFAULT_PROMPT_WORDS = "16,64,256,512"


class EfficiencyProbeScenario(Scenario):
    name = "efficiency_probe"
    description = "Synthetic prompts of designed lengths for efficiency denoising (offline)."
    tags = ["efficiency"]

    def __init__(self, prompt_words: str = DEFAULT_PROMPT_WORDS, repeats: int = 3):
        super().__init__()
        self.prompt_words = [int(x) for x in str(prompt_words).split(",") if x]
        self.repeats = int(repeats)

    def get_instances(self, output_path: str) -> List[Instance]:
        instances = []
        for n in self.prompt_words:
            for r in range(self.repeats):
                # Each repeat starts at another word: same length, a distinct prompt, so HELM's
                # request cache cannot answer a repeat with the first one's stale timing.
                text = " ".join(WORDS[(i + 3 * r) % len(WORDS)] for i in range(n))
                instances.append(
                    Instance(Input(text=text), references=[Reference(Output(text=""), tags=[CORRECT_TAG])], split=TEST_SPLIT,
                             id=f"probe-{n}-{r}")
                )
        return instances


@run_spec_function("efficiency_probe")
def get_efficiency_probe_spec(num_output_tokens: str = "8", prompt_words: str = DEFAULT_PROMPT_WORDS, repeats: str = "3",
                              tables: str = DEFAULT_TABLE) -> RunSpec:
    scenario_spec = ScenarioSpec(
        class_name="helm_efficiency.helm.probe.EfficiencyProbeScenario", args={"prompt_words": prompt_words, "repeats": int(repeats)}
    )
    adapter_spec = AdapterSpec(
        method=ADAPT_GENERATION, instructions="", input_prefix="", output_prefix="", max_train_instances=0,
        num_outputs=1, max_tokens=int(num_output_tokens), temperature=0.0, stop_sequences=[],
    )
    return RunSpec(
        name="efficiency_probe",  # HELM appends the entry's arguments
        scenario_spec=scenario_spec,
        adapter_spec=adapter_spec,
        metric_specs=[efficiency_metric_spec(tables_from_value(tables))],
        groups=["efficiency_probe"],
    )
