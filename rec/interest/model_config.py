"""Hyper-parameters of the interest-evolution model: the `train.model` section of the
project config (rec/config.py), and what a saved model's config.json holds."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SequenceModelConfig(BaseModel):
    """Hyper-parameters of the interest-evolution model (rec/interest/model.py) and its training loop."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    d: int = Field(gt=0, description="hidden size")
    layers: int = Field(ge=0)
    heads: int = Field(gt=0)
    dropout: float = Field(ge=0, lt=1)
    max_len: int = Field(gt=0, description="latest events the model reads; the service keeps as many")
    lr: float = Field(gt=0)
    weight_decay: float = Field(ge=0)
    batch_size: int = Field(gt=0)
    max_epochs: int = Field(gt=0)
    patience: int = Field(ge=0, description="epochs without a better validation NDCG@10 before stopping")
    time_limit_s: float = Field(gt=0, description="wall-clock cap of the early-stopped run")
    seed: int
    use_time_gaps: bool  # embed each event's log-bucketed gap to the one before
    time_attention: bool  # attention bias per log bucket of the time between two events
    time_buckets: int = Field(gt=0)
    run_position: bool  # embed how many earlier events share this event's second
    max_run: int = Field(gt=0, description="run positions at or beyond this share one embedding")
    item_bias: bool  # per-item bias, folded into the vectors as an extra dimension
    adjust_dropout: float = Field(ge=0, le=1, description="per-batch share of warm items trained on text only")
    future_window: int = Field(gt=0, description="predict the next K items at each position")
    future_weight: float = Field(ge=0, description="loss weight of the items 2..K steps ahead")
    label_smoothing: float = Field(ge=0, lt=1, description="share of each target spread over the candidates")
    ema_decay: float = Field(ge=0, lt=1, description="> 0: validate and keep a moving average of the weights")
    exclude_seen: bool  # leave items already in the history out of the training softmax
    refit_with_valid: bool  # after early stopping, retrain on train + valid for the best epoch count
    new_item_boost: float = Field(ge=0, description="score added to items without training data")
    threads: int = Field(ge=0)

    @model_validator(mode="after")
    def _heads_divide_d(self) -> SequenceModelConfig:
        if self.d % self.heads:
            raise ValueError(f"d ({self.d}) must be divisible by heads ({self.heads})")
        return self
