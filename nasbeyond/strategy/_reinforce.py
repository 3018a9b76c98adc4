"""The REINFORCE-trained RNN controller of Zoph & Le 2017, as refined by ENAS (Pham et al. 2018).

An LSTM steps through the space's decisions: at each step a softmax over that decision's
choices (logits divided by a temperature, then squashed by ``tanh_constant * tanh``), and the
embedding of the sampled choice is the next input. Rewards update it by policy gradient with an
exponential-moving-average baseline and an entropy bonus, every ``batch_size`` results (Adam).
Failed trials teach the controller nothing (Zoph & Le train on the rewards of models that
trained), and an arch that failed is sampled again rather than proposed (see ``Strategy``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from nasbeyond.arch import Arch, arch_key
from nasbeyond.exceptions import ConfigError
from nasbeyond.registry import register
from nasbeyond.space import Decision, Space
from nasbeyond.strategy._base import Strategy
from nasbeyond.strategy._torch_state import from_json, to_json
from nasbeyond.trial import Trial


class Controller(nn.Module):
    """The policy: one LSTM cell, one choice embedding and one softmax head per decision."""

    def __init__(self, decisions: list[Decision], hidden: int) -> None:
        super().__init__()
        self.lstm = nn.LSTMCell(hidden, hidden)
        self.start = nn.Parameter(torch.zeros(1, hidden))
        self.embeds = nn.ModuleList(nn.Embedding(len(d.choices), hidden) for d in decisions)
        self.heads = nn.ModuleList(nn.Linear(hidden, len(d.choices)) for d in decisions)

    def step(
        self, i: int, x: torch.Tensor, state: Any, temperature: float, tanh_constant: float
    ) -> tuple[torch.Tensor, Any]:
        """Decision ``i``: the log-probabilities of its choices and the new LSTM state."""
        state = self.lstm(x, state)
        logits = self.heads[i](state[0])[0] / temperature
        if tanh_constant > 0:
            logits = tanh_constant * torch.tanh(logits)
        return torch.log_softmax(logits, dim=-1), state

    def forward(
        self,
        choices: list[int] | None,
        rng: np.random.Generator | None,
        temperature: float,
        tanh_constant: float,
    ) -> tuple[list[int], torch.Tensor, torch.Tensor]:
        """Sample (``choices`` None) or score given choices: returns them, their summed
        log-probability and the summed entropy of the per-step distributions."""
        x, state = self.start, None
        out: list[int] = []
        logp = torch.zeros(())
        entropy = torch.zeros(())
        for i in range(len(self.heads)):
            log_probs, state = self.step(i, x, state, temperature, tanh_constant)
            if choices is None:
                assert rng is not None
                p = log_probs.detach().exp().double().numpy()
                c = int(rng.choice(len(p), p=p / p.sum()))
            else:
                c = choices[i]
            out.append(c)
            logp = logp + log_probs[c]
            entropy = entropy - (log_probs.exp() * log_probs).sum()
            x = self.embeds[i](torch.tensor([c]))
        return out, logp, entropy


@register("strategy", "reinforce")
class Reinforce(Strategy):
    """Policy-gradient RNN controller over the space's decisions.

    Args:
        lr: Adam learning rate.
        hidden: LSTM width.
        batch_size: results per policy update (M in Zoph & Le).
        temperature: logits are divided by it before sampling.
        tanh_constant: logits are squashed to +-tanh_constant (0 disables).
        baseline_decay: EMA decay of the reward baseline.
        entropy_weight: weight of the entropy bonus.
    """

    def __init__(
        self,
        space: Space,
        seed: int | None = None,
        lr: float = 0.01,
        hidden: int = 32,
        batch_size: int = 1,
        temperature: float = 1.0,
        tanh_constant: float = 2.5,
        baseline_decay: float = 0.9,
        entropy_weight: float = 1e-4,
    ) -> None:
        for name, value in (
            ("lr", lr),
            ("hidden", hidden),
            ("batch_size", batch_size),
            ("temperature", temperature),
        ):
            if value <= 0:
                raise ConfigError(f"{name} is {value}; allowed: > 0")
        if not 0 <= baseline_decay < 1:
            raise ConfigError(f"baseline_decay is {baseline_decay}; allowed: 0 <= x < 1")
        super().__init__(space, seed)
        self.lr, self.batch_size = lr, batch_size
        self.temperature, self.tanh_constant = temperature, tanh_constant
        self.baseline_decay, self.entropy_weight = baseline_decay, entropy_weight
        torch.manual_seed(0 if seed is None else seed)  # the controller's initial weights
        self.controller = Controller(space.decisions(), hidden)
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=lr)
        self.baseline: float | None = None
        self._pending: dict[str, list[int]] = {}  # asked, not yet told
        self._batch: list[tuple[list[int], float]] = []  # told, not yet learned from

    def _sample(self) -> tuple[Arch, list[int]]:
        with torch.no_grad():
            choices, _, _ = self.controller(None, self.rng, self.temperature, self.tanh_constant)
        return self.space.from_choices(choices), choices

    def sample(self) -> Arch:
        """An arch drawn from the current policy without proposing it (nothing is pending and
        no tell is expected): ENAS trains the shared weights on such draws, one per minibatch
        (Pham et al., ICML 2018; ``nasbeyond.oneshot.enas``)."""
        return self._sample()[0]

    def ask(self) -> Arch | None:
        drawn: dict[str, list[int]] = {}

        def draw() -> Arch:
            arch, choices = self._sample()
            drawn[arch_key(arch)] = choices
            return arch

        arch = self._fresh(draw)
        key = arch_key(arch)
        self._pending[key] = drawn[key]
        return arch

    def tell(self, trial: Trial) -> None:
        choices = self._pending.pop(arch_key(trial.arch), None)
        reward = self._learn(trial)
        if choices is None or reward is None:
            return  # failed trials teach nothing; foreign archs have no sampled choices
        self._batch.append((choices, reward))
        if len(self._batch) >= self.batch_size:
            self._update()

    def _update(self) -> None:
        loss = torch.zeros(())
        for choices, reward in self._batch:
            if self.baseline is None:
                self.baseline = reward
            self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * reward
            _, logp, entropy = self.controller(choices, None, self.temperature, self.tanh_constant)
            loss = loss - (reward - self.baseline) * logp - self.entropy_weight * entropy
        self.optimizer.zero_grad()
        (loss / len(self._batch)).backward()
        self.optimizer.step()
        self._batch = []

    def probabilities(self) -> list[list[float]]:
        """The controller's current greedy-path distributions, one list per decision (for
        inspection and tests)."""
        probs: list[list[float]] = []
        c = self.controller
        with torch.no_grad():
            x, state = c.start, None
            for i in range(len(c.heads)):
                log_probs, state = c.step(i, x, state, self.temperature, self.tanh_constant)
                probs.append(log_probs.exp().tolist())
                x = c.embeds[i](log_probs.argmax().view(1))
        return probs

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "controller": to_json(self.controller.state_dict()),
            "optimizer": to_json(self.optimizer.state_dict()),
            "baseline": self.baseline,
            "pending": self._pending,
            "batch": self._batch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.controller.load_state_dict(from_json(state["controller"]))
        self.optimizer.load_state_dict(from_json(state["optimizer"]))
        self.baseline = state["baseline"]
        self._pending = {k: list(v) for k, v in state["pending"].items()}
        self._batch = [(list(c), float(r)) for c, r in state["batch"]]
