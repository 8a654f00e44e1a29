"""FlowStudio's own PPO loop for RLHF (InstructGPT-style), on torch + transformers + peft.

TRL removed its PPO trainer, so this is ours. One update:
  1. sample `batch_size` prompts, generate responses with the policy (temperature, top_k=0, top_p=1),
     truncate them after the first EOS;
  2. without gradients: policy and reference log-probs (both temperature-scaled), values, scores;
     a missing-EOS penalty; per-token rewards −β·KL plus the score at the last valid token;
  3. GAE (γ, λ) and whitened advantages;
  4. `ppo_epochs` passes over shuffled minibatches (each split into micro-batches with gradient
     accumulation) minimising the clipped policy loss + vf_coef × the clipped value loss;
  5. metrics, progress, the adaptive KL controller, and a checkpoint when cancelled.

Each update reseeds torch from (seed, update index), so a run stopped and resumed from its
checkpoint produces the same parameters as one that never stopped.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from flowstudio.nodes.hf.loading import autocast_dtype, fp32_master_weights

from flowstudio.core.errors import NodeRunError, RunCancelled

from . import core, rollout

if TYPE_CHECKING:
    import torch

CHECKPOINT_FILE = "ppo_state.pt"  # tensors only, read with weights_only=True
CHECKPOINT_RECORD = "ppo_state.json"  # settings fingerprint, update, KL controller, history

# score_fn(prompt_ids, prompt_mask, responses, response_mask) -> scores (B,)
ScoreFn = Callable[["torch.Tensor", "torch.Tensor", "torch.Tensor", "torch.Tensor"], "torch.Tensor"]


@dataclass
class PPOConfig:
    updates: int = 20
    batch_size: int = 16  # prompts (episodes) per update
    mini_batch_size: int = 8  # episodes per optimizer step
    micro_batch_size: int = 4  # episodes per forward/backward (gradient accumulation)
    ppo_epochs: int = 4
    learning_rate: float = 3e-6
    anneal_lr: bool = True
    max_grad_norm: float = 0.0  # 0 = no clipping (TRL's PPO did not clip)
    response_length: int = 48
    temperature: float = 0.7
    kl_coef: float = 0.05
    kl_estimator: str = "k1"
    adaptive_kl: bool = False
    kl_target: float = 6.0
    kl_horizon: int = 10000
    gamma: float = 1.0
    lam: float = 0.95
    whiten_advantages: bool = True
    whiten_rewards: bool = False
    cliprange: float = 0.2
    cliprange_value: float = 0.2
    vf_coef: float = 0.1
    missing_eos_penalty: float = 1.0
    seed: int = 0
    precision: str = "auto"  # autocast compute dtype: auto | fp32 | bf16; trained weights stay float32
    rollout_batch_size: int = 0  # prompts sampled together, 0: mini_batch_size (TRL: local_rollout_forward_
    # batch_size, 64); the log-prob / value / reward passes after sampling run in chunks of mini_batch_size
    save_every: int = 0  # also checkpoint every N updates (0: only when stopped)

    def validate(self) -> None:
        if self.batch_size % self.mini_batch_size:
            raise ValueError("batch_size must be a multiple of mini_batch_size")
        if self.mini_batch_size % self.micro_batch_size:
            raise ValueError("mini_batch_size must be a multiple of micro_batch_size")
        if self.kl_estimator not in ("k1", "k3"):
            raise ValueError("kl_estimator must be 'k1' or 'k3'")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError("precision must be 'auto', 'fp32' or 'bf16'")
        if self.rollout_batch_size < 0:
            raise ValueError("rollout_batch_size must be 0 (= mini_batch_size) or more")


class Reporter(Protocol):
    checkpoint_dir: Path

    def metric(self, name: str, value: float, step: int | None = None) -> None: ...
    def progress(self, step: int, total: int | None = None, message: str = "") -> None: ...
    def log(self, line: str) -> None: ...
    def cancelled(self) -> bool: ...


@dataclass
class Rollout:
    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    responses: torch.Tensor
    mask: torch.Tensor
    logprobs: torch.Tensor
    ref_logprobs: torch.Tensor
    values: torch.Tensor
    scores: torch.Tensor
    raw_scores: torch.Tensor
    entropy: torch.Tensor
    has_eos: torch.Tensor


class PPOTrainer:
    """Trains `policy` (a causal LM, possibly a PeftModel) and `value_model` (a sequence-classification model).

    reference: a frozen causal LM; None means "the policy with its adapters disabled" (LoRA only).
    prompts: token id lists (not padded). score_fn scores (prompt, response) pairs.
    """

    def __init__(
        self,
        config: PPOConfig,
        policy: Any,
        value_model: Any,
        score_fn: ScoreFn,
        prompts: list[list[int]],
        *,
        eos_id: int | None,
        pad_id: int,
        reference: Any | None = None,
        reporter: Reporter | None = None,
        device: str = "cpu",
        fingerprint: dict[str, Any] | None = None,
    ) -> None:
        import torch

        config.validate()
        if not prompts:
            raise ValueError("no prompts to train on")
        self.config = config
        self.policy = policy
        self.value_model = value_model
        self.value = rollout.ScalarHead(value_model)
        self.reference = reference
        self.score_fn = score_fn
        self.prompts = prompts
        self.eos_id = eos_id
        self.pad_id = pad_id
        self.reporter = reporter
        self.device = device
        self.input_fingerprint = fingerprint or {}
        if reference is None and not hasattr(policy, "disable_adapter"):
            raise ValueError("a reference model is needed unless the policy is a PEFT model")
        for model in (policy, value_model, reference):
            if model is not None:
                rollout.disable_dropout(model)
                model.eval()  # no dropout anywhere; gradients still flow
        if reference is not None:
            reference.requires_grad_(False)
        # the optimizer steps float32 weights only; bf16 is a compute dtype (autocast), never a storage one
        fp32_master_weights(policy)
        fp32_master_weights(value_model)
        self.compute_dtype = autocast_dtype(config.precision, device)
        params = [p for p in policy.parameters() if p.requires_grad]
        params += [p for p in value_model.parameters() if p.requires_grad]
        self.params = params
        self.optimizer = torch.optim.AdamW(params, lr=config.learning_rate, eps=1e-5)
        self.kl_ctl: core.FixedKLController | core.AdaptiveKLController = (
            core.AdaptiveKLController(config.kl_coef, config.kl_target, config.kl_horizon)
            if config.adaptive_kl else core.FixedKLController(config.kl_coef)
        )
        self.update = 0
        self.history: list[dict[str, float]] = []
        self._order_cache: tuple[int, list[int]] | None = None

    # ------------------------------------------------------------------------------------ rollouts

    def _prompt_batch(self, update: int) -> list[list[int]]:
        """Prompts for one update: epochs of a seeded shuffle, so the order is a function of `update`."""
        n, b = len(self.prompts), self.config.batch_size
        out: list[list[int]] = []
        for k in range(update * b, update * b + b):
            epoch, pos = divmod(k, n)
            out.append(self.prompts[self._epoch_order(epoch)[pos]])
        return out

    def _epoch_order(self, epoch: int) -> list[int]:
        if self._order_cache is None or self._order_cache[0] != epoch:
            order = list(range(len(self.prompts)))
            random.Random(self.config.seed * 1_000_003 + epoch).shuffle(order)
            self._order_cache = (epoch, order)
        return self._order_cache[1]

    @contextlib.contextmanager
    def _compute(self) -> Iterator[None]:
        """Forward passes under autocast in `compute_dtype` (nothing when it is None: plain fp32)."""
        import torch

        if self.compute_dtype is None:
            yield
            return
        with torch.autocast(device_type=str(self.device).split(":")[0], dtype=self.compute_dtype):
            yield

    def _ref_logprobs(self, *args: Any) -> torch.Tensor:
        if self.reference is not None:
            return rollout.logprobs_and_entropy(self.reference, *args)[0]
        with self.policy.disable_adapter():
            return rollout.logprobs_and_entropy(self.policy, *args)[0]

    def collect(self, prompts: list[list[int]]) -> Rollout:
        """Sample responses for `rollout_batch_size` prompts at a time (one batched loop on the KV cache), then
        score them in chunks of `mini_batch_size`. A stop is honoured before each sampling chunk and between
        the scoring chunks, always before this update has changed any weight."""
        import torch

        cfg = self.config
        parts: list[dict[str, torch.Tensor]] = []
        gen = min(cfg.rollout_batch_size or cfg.mini_batch_size, len(prompts))
        with torch.no_grad(), self._compute():
            for s in range(0, len(prompts), gen):
                self._check_cancel()
                p_ids, p_mask = rollout.left_pad(prompts[s : s + gen], self.pad_id)
                p_ids, p_mask = p_ids.to(self.device), p_mask.to(self.device)
                raw, _ = rollout.sample(self.policy, p_ids, p_mask, cfg.response_length, cfg.temperature,
                                        self.eos_id, self.pad_id)
                responses, mask = rollout.truncate_after_eos(raw, self.eos_id, self.pad_id)
                for i in range(0, responses.shape[0], cfg.mini_batch_size):
                    if i:
                        self._check_cancel()
                    rows = slice(i, i + cfg.mini_batch_size)
                    parts.append(self._score_chunk(*_trim_left(p_ids[rows], p_mask[rows]), responses[rows],
                                                   mask[rows]))
        merged: dict[str, torch.Tensor] = {}
        for key in parts[0]:
            tensors = [p[key] for p in parts]
            if key in ("prompt_ids", "prompt_mask"):
                width = max(t.shape[1] for t in tensors)
                fill = self.pad_id if key == "prompt_ids" else 0
                tensors = [torch.nn.functional.pad(t, (width - t.shape[1], 0), value=fill) for t in tensors]
            merged[key] = torch.cat(tensors, dim=0)
        return Rollout(**merged)

    def _check_cancel(self) -> None:
        if self.reporter is not None and self.reporter.cancelled():
            raise _StopBeforeOptimising

    def _score_chunk(self, p_ids: torch.Tensor, p_mask: torch.Tensor, responses: torch.Tensor,
                     mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Policy and reference log-probs, values and scores of one chunk of sampled responses."""
        import torch

        cfg = self.config
        args = (p_ids, p_mask, responses, mask, cfg.temperature)
        logprobs, ent = rollout.logprobs_and_entropy(self.policy, *args)
        ref_logprobs = self._ref_logprobs(*args)
        values = self.value.response_values(p_ids, p_mask, responses, mask)
        raw_scores = self.score_fn(p_ids, p_mask, responses, mask).float()
        if not bool(torch.isfinite(raw_scores).all()):
            raise NodeRunError(f"the reward model returned a non-finite score at update {self.update + 1}",
                               field="reward_model", hint="check the reward model (train.reward's metrics)")
        has_eos = rollout.contains_eos(responses, mask, self.eos_id)
        scores = raw_scores - cfg.missing_eos_penalty * (~has_eos).float()
        return dict(prompt_ids=p_ids, prompt_mask=p_mask, responses=responses, mask=mask, logprobs=logprobs,
                    ref_logprobs=ref_logprobs, values=values, scores=scores, raw_scores=raw_scores, entropy=ent,
                    has_eos=has_eos)

    # ------------------------------------------------------------------------------------- updates

    def step(self) -> dict[str, float]:
        """One PPO update (rollout + optimisation); returns its metrics."""
        import torch

        cfg = self.config
        torch.manual_seed(cfg.seed * 1_000_003 + self.update)
        lr = core.linear_lr(cfg.learning_rate, self.update, cfg.updates) if cfg.anneal_lr else cfg.learning_rate
        for group in self.optimizer.param_groups:
            group["lr"] = lr

        ro = self.collect(self._prompt_batch(self.update))
        mask = ro.mask.float()
        kl = core.kl_per_token(ro.logprobs, ro.ref_logprobs, cfg.kl_estimator) * mask
        beta = self.kl_ctl.value
        rewards, non_score = core.token_rewards(kl, ro.scores, mask, beta)
        if cfg.whiten_rewards:
            rewards = core.masked_whiten(rewards, mask, shift_mean=False)
        advantages, returns = core.gae(rewards, ro.values, mask, cfg.gamma, cfg.lam)
        if cfg.whiten_advantages:
            advantages = core.masked_whiten(advantages, mask)

        stats: dict[str, list[float]] = {k: [] for k in
                                         ("policy_loss", "value_loss", "approxkl", "clipfrac", "value_clipfrac",
                                          "ratio")}
        n = cfg.batch_size
        for _ in range(cfg.ppo_epochs):
            order = torch.randperm(n).to(self.device)
            for m in range(0, n, cfg.mini_batch_size):
                mb = order[m : m + cfg.mini_batch_size]
                self.optimizer.zero_grad(set_to_none=True)
                accum = cfg.mini_batch_size // cfg.micro_batch_size
                pieces: list[dict[str, torch.Tensor]] = []
                for u in range(0, len(mb), cfg.micro_batch_size):
                    idx = mb[u : u + cfg.micro_batch_size]
                    with self._compute():
                        loss, piece = self._micro_loss(ro, idx, advantages, returns)
                    (loss / accum).backward()
                    pieces.append(piece)
                # one device sync per minibatch for all its statistics, before its weights change
                names = list(pieces[0])
                table = torch.stack([torch.stack([p[k] for k in names]) for p in pieces]).tolist()
                for row in table:
                    s = dict(zip(names, row, strict=True))
                    if not math.isfinite(s["policy_loss"]) or not math.isfinite(s["value_loss"]):
                        raise NodeRunError(
                            f"the PPO loss became {s['policy_loss']} (value loss {s['value_loss']}) at update "
                            f"{self.update + 1}", field="learning_rate",
                            hint="lower learning_rate, keep max_grad_norm on, or raise kl_coef")
                    for k, v in s.items():
                        stats[k].append(v)
                if cfg.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm)
                self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

        seq_kl = kl.sum(1)
        metrics = {
            "objective/kl": seq_kl.mean().item(),
            "objective/entropy": (ro.entropy * mask).sum(1).mean().item(),
            "objective/non_score_reward": non_score.sum(1).mean().item(),
            "objective/scores": ro.raw_scores.mean().item(),
            "objective/rlhf_reward": (ro.scores + non_score.sum(1)).mean().item(),
            "objective/kl_coef": beta,
            "policy/approxkl": _mean(stats["approxkl"]),
            "policy/clipfrac": _mean(stats["clipfrac"]),
            "loss/policy": _mean(stats["policy_loss"]),
            "loss/value": _mean(stats["value_loss"]),
            "val/clipfrac": _mean(stats["value_clipfrac"]),
            "val/ratio": _mean(stats["ratio"]),
            "val/mean": core.masked_mean(ro.values, mask).item(),
            "eos/fraction": ro.has_eos.float().mean().item(),
            "response/length": mask.sum(1).mean().item(),
            "lr": lr,
        }
        self.kl_ctl.update(metrics["objective/kl"], n)
        self.update += 1
        self.history.append(metrics)
        return metrics

    def _micro_loss(self, ro: Rollout, idx: torch.Tensor, advantages: torch.Tensor,
                    returns: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cfg = self.config
        p_ids, p_mask = ro.prompt_ids[idx], ro.prompt_mask[idx]
        responses, mask = ro.responses[idx], ro.mask[idx]
        logits = rollout.response_logits(self.policy, p_ids, p_mask, responses, mask, cfg.temperature)
        new_logprobs = rollout.gather_logprobs(logits, responses)
        new_values = self.value.response_values(p_ids, p_mask, responses, mask)
        maskf = mask.float()
        policy_loss, value_loss, s = core.ppo_losses(
            new_logprobs, ro.logprobs[idx], advantages[idx], new_values, ro.values[idx], returns[idx], maskf,
            cfg.cliprange, cfg.cliprange_value,
        )
        loss = policy_loss + cfg.vf_coef * value_loss
        out = {"policy_loss": policy_loss.detach().float(), "value_loss": value_loss.detach().float()}
        out.update({k: v.detach().float() for k, v in s.items()})
        return loss, out

    # --------------------------------------------------------------------------------------- driving

    def train(self) -> list[dict[str, float]]:
        """Run the remaining updates, reporting metrics; on cancel save a checkpoint and raise RunCancelled."""
        rep = self.reporter
        if rep is not None and self.load_checkpoint(rep.checkpoint_dir):
            rep.log(f"PPO: resumed from checkpoint at update {self.update}/{self.config.updates}")
        while self.update < self.config.updates:
            try:
                if rep is not None and rep.cancelled():
                    raise _StopBeforeOptimising
                metrics = self.step()
            except _StopBeforeOptimising:
                # nothing of this update was applied yet (stops are honoured during the rollout too, and
                # every update reseeds), so the checkpoint is exactly the state before it
                assert rep is not None
                self.save_checkpoint(rep.checkpoint_dir)
                raise RunCancelled(f"PPO stopped at update {self.update}/{self.config.updates}; "
                                   "resume the run to continue from the checkpoint") from None
            if rep is not None:
                for name, value in metrics.items():
                    rep.metric(name, value, step=self.update)
                rep.progress(self.update, self.config.updates,
                             f"update {self.update}: score {metrics['objective/scores']:.3f}, "
                             f"KL {metrics['objective/kl']:.3f}")
                every = self.config.save_every
                if every and self.update % every == 0 and self.update < self.config.updates:
                    self.save_checkpoint(rep.checkpoint_dir)
        return self.history

    def _fingerprint(self) -> dict[str, Any]:
        """What a checkpoint must match to be resumed: settings (save_every aside), prompts, the caller's inputs."""
        config = asdict(self.config)
        config.pop("save_every")
        return {"config": config, "prompts": len(self.prompts), "inputs": self.input_fingerprint}

    def save_checkpoint(self, directory: Path) -> Path:
        """Tensors (policy and value weights being trained, optimizer) in `ppo_state.pt`, everything else in
        `ppo_state.json`, written last: the JSON is the commit record, so a kill mid-save leaves the previous
        checkpoint (or none) readable, never a half one."""
        import torch

        directory.mkdir(parents=True, exist_ok=True)
        tensors = {
            "update": self.update,
            "policy": {n: p.detach().clone() for n, p in self.policy.named_parameters() if p.requires_grad},
            "value": {n: p.detach().clone() for n, p in self.value_model.named_parameters() if p.requires_grad},
            "optimizer": self.optimizer.state_dict(),
        }
        record = {"fingerprint": self._fingerprint(), "update": self.update, "kl_ctl": self.kl_ctl.state_dict(),
                  "history": self.history}
        tmp = directory / (CHECKPOINT_FILE + ".tmp")
        torch.save(tensors, tmp)
        tmp.replace(directory / CHECKPOINT_FILE)
        tmp_json = directory / (CHECKPOINT_RECORD + ".tmp")
        tmp_json.write_text(json.dumps(record), encoding="utf-8")
        tmp_json.replace(directory / CHECKPOINT_RECORD)
        return directory / CHECKPOINT_FILE

    def load_checkpoint(self, directory: Path) -> bool:
        """Restore a checkpoint saved by a run with the same settings; False if there is none (or it was saved
        with other settings). The JSON record is checked first; the tensor file is then read with
        `weights_only=True`, so a checkpoint can never run code, whoever wrote it."""
        import pickle

        import torch

        path, record_path = directory / CHECKPOINT_FILE, directory / CHECKPOINT_RECORD
        if not path.exists() or not record_path.exists():
            if path.exists() and self.reporter is not None:
                self.reporter.log(f"PPO: ignoring {path.name} without its {record_path.name} (an older or "
                                  "incomplete checkpoint)")
            return False
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise NodeRunError(f"the PPO checkpoint record {record_path} is unreadable: {err}",
                               field="checkpoint", hint="delete the checkpoint directory to start over") from None
        if json.dumps(record.get("fingerprint"), sort_keys=True) != json.dumps(self._fingerprint(), sort_keys=True):
            if self.reporter is not None:
                self.reporter.log("PPO: ignoring a checkpoint saved with different settings")
            return False
        try:
            state = torch.load(path, weights_only=True, map_location="cpu")
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as err:
            raise NodeRunError(f"the PPO checkpoint {path} is not a plain tensor file, so it was not loaded "
                               f"({type(err).__name__}: {str(err).splitlines()[0][:200]})", field="checkpoint",
                               hint="a checkpoint holds only tensors; delete this one (it may come from "
                                    "someone else's run directory) and run again") from None
        if int(state.get("update", -1)) != int(record["update"]):
            raise NodeRunError(f"the PPO checkpoint in {directory} is inconsistent (tensors of update "
                               f"{state.get('update')}, record of update {record['update']})", field="checkpoint",
                               hint="delete the checkpoint directory to start over")
        with torch.no_grad():
            for model, saved in ((self.policy, state["policy"]), (self.value_model, state["value"])):
                named = dict(model.named_parameters())
                for name, tensor in saved.items():
                    named[name].copy_(tensor)
        self.optimizer.load_state_dict(state["optimizer"])
        self.kl_ctl.load_state_dict(record["kl_ctl"])
        self.update = int(record["update"])
        self.history = list(record["history"])
        return True


class _StopBeforeOptimising(Exception):
    """The user stopped the run before this update changed any weights."""


def _trim_left(ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop the leading columns that are padding in every row (a chunk of a wider left-padded batch)."""
    filled = mask.any(0)
    first = int(filled.long().argmax()) if bool(filled.any()) else 0
    return ids[:, first:], mask[:, first:]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0
