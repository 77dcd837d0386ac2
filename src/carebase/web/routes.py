"""Web UI routes (server-rendered, htmx). Filled in by the web slice."""

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
