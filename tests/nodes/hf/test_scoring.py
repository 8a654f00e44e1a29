"""One scoring rule for reward models: reward training, reward evaluation and PPO read the same token."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from flowstudio.nodes.data.examples import pair_texts  # noqa: E402
from flowstudio.nodes.hf.loading import load_tokenizer  # noqa: E402
from flowstudio.nodes.hf.scoring import ScalarHead, reward_scores, scored_positions  # noqa: E402
from flowstudio.nodes.rl.ppo import rollout, setup  # noqa: E402

ROWS = [
    {"prompt": "Tell me a fact.", "chosen": " Water boils at 100 C.", "rejected": ""},
    {"prompt": "Hi", "chosen": " Hello there, how can I help you today?", "rejected": ""},
    {"prompt": "A much longer prompt that asks for a short answer:", "chosen": " Yes.", "rejected": ""},
]


@pytest.fixture(scope="module")
def pad_is_eos(tiny_llama_dir: Path):
    """tiny-llama's tokenizer with pad == EOS (as SmolLM2 ships) and a random reward model on it."""
    from transformers import AutoModelForSequenceClassification

    tok = load_tokenizer(tiny_llama_dir)
    tok.pad_token = tok.eos_token
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_llama_dir, num_labels=1)
    model.config.pad_token_id = tok.pad_token_id
    model.eval()
    return tok, model


def test_the_scored_position_skips_trailing_pad_and_honours_left_padding() -> None:
    ids = torch.tensor([[0, 0, 5, 6, 9, 9], [5, 6, 7, 8, 9, 0], [9, 9, 9, 9, 9, 9]])
    mask = torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]])
    assert scored_positions(ids, mask, pad_id=9).tolist() == [3, 3, 5]  # all-pad row: last masked position
    assert scored_positions(ids, mask, pad_id=None).tolist() == [5, 4, 5]


def test_reward_training_evaluation_and_ppo_give_the_same_score_when_pad_is_eos(pad_is_eos) -> None:
    tok, model = pad_is_eos
    texts = [pair_texts(row, tok)[0] for row in ROWS]
    assert all(t.endswith(tok.eos_token) for t in texts), "plain pairs end with EOS, as in reward training"

    # 1. reward training: TRL's RewardTrainer calls the model's forward on right-padded batches
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        trained_rule = model(**enc).logits[:, 0].tolist()

    # 2. eval.reward_score and train.reward's accuracy
    evaluated = reward_scores(model, tok, texts, "cpu")

    # 3. PPO: left-padded prompt ids + sampled response ids, decoded and re-rendered by the scorer
    prompts = [tok(r["prompt"], add_special_tokens=False)["input_ids"] for r in ROWS]
    responses = [tok(r["chosen"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for r in ROWS]
    p_ids, p_mask = rollout.left_pad(prompts, tok.pad_token_id)
    width = max(len(r) for r in responses)
    r_ids = torch.full((len(ROWS), width), tok.pad_token_id)
    r_mask = torch.zeros((len(ROWS), width), dtype=torch.long)
    for i, r in enumerate(responses):
        r_ids[i, : len(r)] = torch.tensor(r)
        r_mask[i, : len(r)] = 1
    scorer = setup.reward_model_scorer(model, tok, tok, "cpu", {tuple(p): r["prompt"] for p, r in zip(prompts, ROWS,
                                                                                                   strict=True)})
    with torch.no_grad():
        in_ppo = scorer(p_ids, p_mask, r_ids, r_mask).tolist()

    assert evaluated == pytest.approx(trained_rule, abs=1e-5)
    assert in_ppo == pytest.approx(trained_rule, abs=1e-5)

    # the test can tell the rules apart: reading at the EOS itself gives other numbers
    with torch.no_grad():
        per_token = ScalarHead(model)(enc["input_ids"], enc["attention_mask"])
    at_eos = per_token.gather(1, (enc["attention_mask"].sum(1) - 1).unsqueeze(1)).squeeze(1).tolist()
    assert max(abs(a - b) for a, b in zip(at_eos, trained_rule, strict=True)) > 1e-3
