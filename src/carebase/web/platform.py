"""(in progress)"""

from fastapi import APIRouter

from carebase.web.auth import WebRoute

router = APIRouter(route_class=WebRoute)
