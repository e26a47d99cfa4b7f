"""Build real transformer models from an architecture config with random weights (no download).

Runtime does not depend on weight values, so a random-weight model times exactly like the
trained one. A byte-level tokenizer (256 byte tokens plus an end-of-text token) is built in
memory, so nothing is fetched from a hub either.
"""

import os
from typing import Any, Dict

END_OF_TEXT = "<|endoftext|>"


def build_byte_tokenizer(model_max_length: int):
    """A deterministic byte-level tokenizer: every UTF-8 byte is one token, no merges."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import PreTrainedTokenizerFast

    alphabet = ByteLevel.alphabet()
    vocab = {symbol: i for i, symbol in enumerate(sorted(alphabet))}
    vocab[END_OF_TEXT] = len(vocab)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=END_OF_TEXT,
        bos_token=END_OF_TEXT,
        unk_token=END_OF_TEXT,
        model_max_length=model_max_length,
    )


def build_model(config_dict: Dict[str, Any], seed: int = 0):
    """Instantiate a causal LM from a config dict (must contain `model_type`), weights random."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config_dict = dict(config_dict)
    model_type = config_dict.pop("model_type")
    config = AutoConfig.for_model(model_type, **config_dict)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.eval()
    return model


def save_random_model(config_dict: Dict[str, Any], directory: str, seed: int = 0) -> str:
    """Build a random-weight model plus byte tokenizer and save both to `directory` (HF format)."""
    os.makedirs(directory, exist_ok=True)
    model = build_model(config_dict, seed=seed)
    max_len = int(getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", 1024))
    tokenizer = build_byte_tokenizer(model_max_length=max_len)
    model.config.eos_token_id = tokenizer.eos_token_id
    model.config.bos_token_id = tokenizer.bos_token_id
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.eos_token_id = tokenizer.eos_token_id
        model.generation_config.pad_token_id = tokenizer.eos_token_id
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
