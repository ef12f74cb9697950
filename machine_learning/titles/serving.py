"""The serving API for many titles: ``/titles/{title}/predict`` and ``/titles/{title}/model-version``.

Each title gets its own :class:`~machine_learning.serving.provider.ModelProvider`, created on the title's first
request (only for a title the registry lists as ready, or the default title, which is served by the API's own
provider) and following that title's ``production`` alias on its own. At most ``TITLES_MAX_SERVED`` providers are
kept; the least recently used one is stopped when another title needs a place. Same token as the other routes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from machine_learning.serving.provider import Provider
from machine_learning.settings import Settings

logger = logging.getLogger(__name__)


class TitleProviders:
    """One provider per served title, made lazily, bounded, least recently used evicted.

    Args:
        default_title: Served by ``default_provider`` (never evicted, started and stopped by the app).
        default_provider: The API's own provider.
        ready_titles: Returns the titles that may be served (the registry's ready ones); cached for ``cache_seconds``.
        build: Makes an unstarted provider for a title.
        limit: Most providers kept besides the default one.
        cache_seconds: How long the list of ready titles is trusted.

    """

    def __init__(
        self,
        default_title: str,
        default_provider: Provider,
        ready_titles: Callable[[], set[str]],
        build: Callable[[str], Provider],
        limit: int,
        cache_seconds: float,
    ) -> None:
        self._default_title, self._default = default_title, default_provider
        self._ready_titles, self._build = ready_titles, build
        self._limit, self._cache_seconds = limit, cache_seconds
        self._providers: OrderedDict[str, Provider] = OrderedDict()
        self._known: set[str] = set()
        self._known_at = float("-inf")
        self._lock = threading.Lock()

    def cached(self, title: str) -> Provider | None:
        """Return the title's provider if it is already made and the list of ready titles is fresh (no I/O).

        When the list is stale this returns ``None``, so the caller goes through :meth:`get`, which reads the list
        again and stops serving a title that is no longer ready (deleted, or being deleted).
        """
        if title == self._default_title:
            return self._default
        if self._stale():
            return None
        with self._lock:
            provider = self._providers.get(title)
            if provider is not None:
                self._providers.move_to_end(title)
            return provider

    def get(self, title: str) -> Provider:
        """Return the title's provider, making (and first loading) it if the title may be served.

        Raises:
            HTTPException: 404 when the title is not registered as ready here.

        """
        provider = self.cached(title)
        if provider is not None:
            return provider
        if title not in self._ready():
            shown = title[:60]
            raise HTTPException(404, f"unknown title {shown!r}: no ready title of that name (see 'mlops title list')")
        with self._lock:
            if title in self._providers:  # made before, still ready
                self._providers.move_to_end(title)
                return self._providers[title]
        made = self._build(title)
        refresh = getattr(made, "refresh", None)
        if callable(refresh):
            refresh()  # the first request waits for the model instead of getting a 503
        with self._lock:
            if title in self._providers:  # another request made it meanwhile
                return self._providers[title]
            self._providers[title] = made
            evicted = [self._providers.popitem(last=False)[1] for _ in range(len(self._providers) - self._limit)]
        made.start()
        for old in evicted:
            old.stop()
        return made

    def served(self) -> list[str]:
        """Return the titles with a provider now, least recently used first."""
        with self._lock:
            return list(self._providers)

    def stop(self) -> None:
        """Stop every title's provider (not the default one)."""
        with self._lock:
            providers, self._providers = list(self._providers.values()), OrderedDict()
        for provider in providers:
            provider.stop()

    def _stale(self) -> bool:
        return time.monotonic() - self._known_at > self._cache_seconds

    def _ready(self) -> set[str]:
        if self._stale():
            try:
                self._known, self._known_at = set(self._ready_titles()), time.monotonic()
            except Exception as error:  # noqa: BLE001 - S3 down: keep serving the titles known so far
                logger.warning("cannot read the title registry, using the last list: %s", error)
                return self._known
            with self._lock:
                gone = [title for title in self._providers if title not in self._known]
                dropped = [self._providers.pop(title) for title in gone]
            for provider in dropped:  # a deleted title is not served from its last loaded model
                provider.stop()
        return self._known


def build_title_providers(settings: Settings, default_provider: Provider) -> TitleProviders:
    """Title providers following MLflow, with the ready titles read from the registry in S3 (no I/O here)."""
    import dataclasses

    from machine_learning.serving.provider import build_provider

    def ready_titles() -> set[str]:
        from machine_learning.storage import make_store
        from machine_learning.titles.registry import READY, read_titles

        return {name for name, record in read_titles(make_store(settings)).items() if record.state == READY}

    return TitleProviders(
        settings.game_title,
        default_provider,
        ready_titles,
        lambda title: build_provider(dataclasses.replace(settings, game_title=title)),
        settings.titles_max_served,
        settings.serving_reload_seconds,
    )


def add_title_routes(
    app: FastAPI, settings: Settings, provider: Provider, require_token: Any, providers: TitleProviders | None = None
) -> TitleProviders:
    """Add ``/titles/{title}/predict`` and ``/titles/{title}/model-version``; stop their providers with the app.

    Args:
        app: The serving API.
        settings: Body-size limit, default title, registry location.
        provider: The API's own provider, which serves the default title.
        require_token: The API's token dependency.
        providers: The title providers (default: :func:`build_title_providers`).

    Returns:
        The title providers.

    """
    from machine_learning.serving.app import (
        _ERRORS,
        _REQUEST_BODY,
        _current,
        decode_predict_request,
        score_predict_request,
    )
    from machine_learning.serving.schemas import ModelVersion, PredictResponse

    titles = providers or build_title_providers(settings, provider)
    errors = {**_ERRORS, 404: _ERRORS[401]}

    async def provider_of(title: str) -> Provider:
        cached = titles.cached(title)
        return cached if cached is not None else await run_in_threadpool(titles.get, title)

    @app.post(
        "/titles/{title}/predict",
        response_model=PredictResponse,
        responses=errors,
        dependencies=[Depends(require_token)],
        openapi_extra={"requestBody": _REQUEST_BODY},
    )
    async def predict_title(title: str, http_request: Request) -> Response:
        """Predict with one title's production model (1 to 10,000 players); 404 for an unknown title."""
        model = _current(await provider_of(title))
        request = await decode_predict_request(http_request, settings.serving_max_body_bytes)
        answer = await score_predict_request(model, request)
        return Response(answer, media_type="application/json")

    @app.get(
        "/titles/{title}/model-version",
        response_model=ModelVersion,
        responses=errors,
        dependencies=[Depends(require_token)],
    )
    async def title_model_version(title: str) -> ModelVersion:
        """Return the model version serving one title now; 404 for an unknown title."""
        model = _current(await provider_of(title))
        return ModelVersion(
            model_name=model.name,
            model_version=model.version,
            loaded_at=model.loaded_at.isoformat(),
            predictor=model.predictor.kind,
            challenger=None,
        )

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        async with inner(application):
            try:
                yield
            finally:
                titles.stop()

    app.router.lifespan_context = lifespan
    return titles
