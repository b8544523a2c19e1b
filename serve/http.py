"""The FastAPI app the ingress serves: request-body limits and domain errors as HTTP
statuses. The routes, and the app's OpenAPI spec, are in serve/ingress.py."""

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from ray import serve

from rec.config import ServeConfig
from rec.errors import BodyTooLargeError, InvalidRequestError, RecError, UnknownItemError
from serve.body_limits import RequestBodyLimits
from serve.metrics import EventRejections, mark_unknown_item
from serve.schemas import DIVERSITY

CATEGORY_QUERY = Query(
    None, description="only items in at least one of these categories (repeat the parameter for more)",
)
DIVERSITY_QUERY = Query(None, ge=0, le=1, description=DIVERSITY)
EXPLAIN_QUERY = Query(False, description="each item's `because`: what in the request it is listed for, with how "
                                          "much its score owes to that")
OFFSET_QUERY = Query(0, ge=0, description="skip the first `offset` (the next page; stable while nothing changes)")
YEAR_MIN_QUERY = Query(None, ge=0, le=9999, description="only items from this year on (items without a year are left out)")
YEAR_MAX_QUERY = Query(None, ge=0, le=9999, description="only items up to this year (items without a year are left out)")

api = FastAPI(
    title="Interest recommender",
    description="Events in, recommendations out; item meaning from a text encoder.",
    version="0.1.0",
)


def _live_serve_config() -> ServeConfig:
    """The serve config of this replica's Ingress (the lookup Serve itself uses to bind `self`)."""
    return serve.get_replica_context().servable_object.config.serve


def _live_metrics():
    """This replica's Ingress metrics (serve/metrics.py)."""
    return serve.get_replica_context().servable_object.metrics


# Before @serve.ingress(api), which freezes a copy of the app: bodies too large,
# not UTF-8 or nested too deep are refused here, before FastAPI parses them.
api.add_middleware(RequestBodyLimits, serve_config=_live_serve_config)
api.add_middleware(EventRejections, ingress_metrics=_live_metrics)  # outermost: sees every refusal


# The request's own faults, raised by the request models: a 4xx whose detail names the field.
_REQUEST_FAULTS = {BodyTooLargeError: 413, InvalidRequestError: 422, UnknownItemError: 422}


async def _request_fault(request: Request, exc: RecError) -> JSONResponse:
    if isinstance(exc, UnknownItemError):
        mark_unknown_item(request.scope)
    return JSONResponse({"detail": str(exc)}, status_code=_REQUEST_FAULTS[type(exc)])


for _fault in _REQUEST_FAULTS:
    api.add_exception_handler(_fault, _request_fault)
