"""Request bodies (pydantic): every field typed and ranged, unknown fields refused.

A body that breaks a rule is answered 422 by ``errors.validation_handler``, which names the
field, the value and the rule. Limits that depend on the deployment (query length, batch size)
are checked by the routes, which know the ServeConfig.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Objective", "RouteRequest", "RouteBatchRequest", "FeedbackRequest", "FeedbackBatchRequest",
           "ModelCardRequest", "ChatMessage", "ChatRequest"]

_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)


class Objective(BaseModel):
    """What the caller wants: weights and constraints (all optional)."""

    model_config = _STRICT

    weights: dict[Literal["effect", "cost", "latency"], float] | None = Field(
        None, description="e.g. {'effect': 1, 'cost': 0.5}; missing keys are 0; default: the router's DEFAULT_WEIGHTS")
    cost_unit: Literal["normalized", "usd"] = "normalized"
    budget: float | None = Field(None, ge=0, description="max predicted USD per call")
    max_latency_s: float | None = Field(None, ge=0, description="max predicted seconds per call")
    min_effect: float | None = Field(None, ge=0, le=1)
    allowed_models: list[str] | None = Field(None, max_length=1000)
    allowed_agents: list[str] | None = Field(None, max_length=1000)
    forbidden_models: list[str] | None = Field(None, max_length=1000)
    forbidden_agents: list[str] | None = Field(None, max_length=1000)
    fallback: Literal["cheapest", "best_effect"] | None = Field(
        None, description="when nothing is feasible: None answers 409; 'cheapest' / 'best_effect' choose anyway")

    def select_kwargs(self) -> dict:
        """As the keyword arguments of Router.select (None values left out)."""
        d = self.model_dump(exclude={"query", "queries", "task", "tasks", "evidence"}, exclude_none=True)
        if "max_latency_s" in d:
            d["max_latency"] = d.pop("max_latency_s")
        return d


class RouteRequest(Objective):
    query: str = Field(min_length=1)
    task: str | None = Field(None, min_length=1, max_length=200)
    evidence: int = Field(0, ge=0, le=50, description="nearest past queries to return with their outcomes")


class RouteBatchRequest(Objective):
    queries: list[str] = Field(min_length=1)
    tasks: list[str | None] | None = None

    @model_validator(mode="after")
    def _aligned(self):
        if self.tasks is not None and len(self.tasks) != len(self.queries):
            raise ValueError(f"tasks has {len(self.tasks)} entries but queries has {len(self.queries)}; give one "
                             "task per query (null to infer it), or leave tasks out")
        return self


class FeedbackRequest(BaseModel):
    """An outcome: for a decision (decision_id), or for a (query, model, agent) the caller ran itself."""

    model_config = _STRICT

    decision_id: str | None = Field(None, min_length=1, max_length=100)
    query: str | None = Field(None, min_length=1)
    model: str | None = Field(None, min_length=1, max_length=200)
    agent: str | None = Field(None, min_length=1, max_length=200)
    task: str | None = Field(None, min_length=1, max_length=200)
    effect: float = Field(ge=0, le=1, description="observed quality in [0, 1]")
    cost: float | None = Field(None, ge=0, description="observed USD; default: the decision's predicted cost")
    latency_s: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _one_form(self):
        if self.decision_id is not None:
            given = [k for k in ("query", "model", "agent", "task") if getattr(self, k) is not None]
            if given:
                raise ValueError(f"give either decision_id or (query, model, agent), not both (also got {given}); "
                                 "a decision already names its query, model and agent")
        elif self.query is None or self.model is None:
            raise ValueError("give decision_id (from /v1/route or the x-graphroute-decision-id header), or query "
                             "and model (and agent, default 'direct') of a run you made yourself")
        elif self.cost is None:
            raise ValueError("cost is required when there is no decision_id (there is no predicted cost to use)")
        return self


class FeedbackBatchRequest(BaseModel):
    model_config = _STRICT
    outcomes: list[FeedbackRequest] = Field(min_length=1, max_length=10_000)


class ModelCardRequest(BaseModel):
    model_config = _STRICT

    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    price_in: float | None = Field(None, ge=0, description="USD per 1M prompt tokens")
    price_out: float | None = Field(None, ge=0, description="USD per 1M completion tokens")
    params_b: float | None = Field(None, ge=0, description="parameters, billions")


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str = Field(min_length=1)
    content: str | list[dict] | None = None


class ChatRequest(BaseModel):
    """The OpenAI chat-completions body: the fields graphroute reads are checked, the rest pass through."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
