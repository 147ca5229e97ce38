"""`/video compare`: one prompt with the same options, rendered once by each of 2 or 3 models (PRODUCT.md §4).

Each model is checked against its own entry in the model table, exactly as `/video generate` would check it, before
anything is reserved: one model that can't take the request refuses the whole compare, naming that model (and the
option it was picked in). What the member left out follows each model's own defaults, so the members of a compare
may differ in what the member did not choose (a model's default length or sound); the card says so per model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from bot.domain.cost import request_cost
from bot.domain.errors import RequestValidationError, UserFacingError
from bot.domain.models import ModelTable
from bot.domain.request import ChannelDefaults, RawOptions, VideoRequest
from bot.domain.validation import ModelChoice, validate_options

MODEL_OPTIONS = ("model_a", "model_b", "model_c")
MIN_MODELS = 2


def validate_compare(
    raw: RawOptions, picked: Sequence[tuple[str, str]], defaults: ChannelDefaults, choice: ModelChoice
) -> list[VideoRequest]:
    """One validated request per model (one take each), in the order picked; `picked` is (option, model key).

    Raises `RequestValidationError` naming the option of the first model that can't take the request, or of a
    model picked twice.
    """
    if len(picked) < MIN_MODELS:
        raise RequestValidationError(None, "Pick at least two models to compare (`model_a` and `model_b`).")
    first_option: dict[str, str] = {}
    for option, key in picked:
        key = key.strip()
        if key in first_option:
            raise RequestValidationError(
                option,
                f"`{first_option[key]}` and `{option}` are both `{key}`: pick {len(picked)} different models "
                "to compare.",
            )
        first_option[key] = option
    requests = []
    for option, key in picked:
        try:
            request = validate_options(dataclasses.replace(raw, model=key.strip(), takes=1), defaults, choice)
        except UserFacingError as error:
            spec = choice.table.get(key.strip())
            name = spec.label if spec is not None else key
            raise RequestValidationError(
                option, f"`{option}` ({name}) can't take this request: {error.message}"
            ) from error
        requests.append(request)
    return requests


def member_costs(requests: Sequence[VideoRequest], models: ModelTable) -> list[int]:
    """What each model's render costs (its own rates), in order."""
    costs = []
    for request in requests:
        spec = models.get(request.model)
        if spec is None:
            raise ValueError(f"unknown model {request.model!r}")
        costs.append(request_cost(request, spec.cost))
    return costs


def shared_notes(requests: Sequence[VideoRequest]) -> tuple[str, ...]:
    """The notes of every member, each once, in order (the same note for two models is said once)."""
    return tuple(dict.fromkeys(note for request in requests for note in request.notes))
