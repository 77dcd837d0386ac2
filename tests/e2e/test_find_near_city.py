"""Find a doctor around a city in a real browser: the patient types a city, picks a distance and sorts
by nearest; clinics in the next town show with their distance from the city's centre, farther ones do not.
Screenshots: test-artifacts/screenshots/find-near-city-*.png."""

from __future__ import annotations

import uuid

import pytest

from tests.directory.conftest import make_market
from tests.e2e.browser import watch_csp
from tests.factories import Factory

pytestmark = pytest.mark.browser


async def _near_city(context, device: str, width: int, factory: Factory, shot) -> None:  # type: ignore[no-untyped-def]
    tag = uuid.uuid4().hex[:4]
    city = f"Pune{tag}"
    places = [(city, 18.5000, 73.8460, "Dr. Kavya Joshi"), (city, 18.5400, 73.8660, "Dr. Sameer Kulkarni"),
              (f"Pimpri{tag}", 18.6298, 73.7997, "Dr. Neha Patil"), (f"Lonavala{tag}", 18.7546, 73.4062,
              "Dr. Far Away")]  # fmt: skip
    for town, lat, lon, name in places:
        market = await make_market(factory, city=town, lat=lat, lon=lon, name=f"{town} Care Clinic")
        consult = await market.service("Consultation", 60000)
        await market.doctor(f"{name} {tag}", specialties=["general-medicine"], services=[consult])
    await watch_csp(context)
    page = await context.new_page()
    await page.goto("/find")
    if device == "phone":
        await page.get_by_text("More filters").click()
    await page.get_by_label("City").fill(city.lower())
    await page.get_by_label("Within").select_option("20")
    await page.get_by_label("Sort").select_option("distance")
    await page.get_by_role("button", name="Search").click()
    await page.get_by_role("link", name=f"Dr. Neha Patil {tag}").wait_for()
    text = await page.locator(".results").inner_text()
    assert f"Dr. Far Away {tag}" not in text
    assert text.index(f"Dr. Kavya Joshi {tag}") < text.index(f"Dr. Neha Patil {tag}")
    assert f"km from {city} centre" in text  # as the clinics spell it
    await shot(page, f"find-near-city-{device}")
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"scrolls sideways ({scroll}px > {width}px)"
    # An unknown city with a distance: the error sits next to the city field.
    await page.goto(f"/find?city=Nowhere{tag}&radius_km=10")
    await page.get_by_text("No clinic lists that city").wait_for()
    await shot(page, f"find-near-city-unknown-{device}")


async def test_find_around_a_city_on_a_phone(phone, factory: Factory, shot):  # type: ignore[no-untyped-def]
    await _near_city(phone, "phone", 390, factory, shot)


async def test_find_around_a_city_on_a_desktop(desk, factory: Factory, shot):  # type: ignore[no-untyped-def]
    await _near_city(desk, "desktop", 1280, factory, shot)
