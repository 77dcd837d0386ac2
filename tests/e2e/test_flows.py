"""The flows a person does in a real browser: staff sign-in with MFA, patient sign-in with a code
on a phone, an admin approving a device, and a forged form refused. Screenshots go to
test-artifacts/screenshots/."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from sqlalchemy import update

from carebase.identity.models import Device
from tests.e2e.browser import csp_violations, watch_csp
from tests.factories import Factory

pytestmark = pytest.mark.browser


async def _approve_devices_of(factory: Factory, user_id) -> None:  # type: ignore[no-untyped-def]
    async with factory.owner() as s, s.begin():
        await s.execute(update(Device).where(Device.user_id == user_id).values(status="approved"))


def _next_totp(secret: str) -> str:
    """A TOTP code for the next time step: the current one was already used (codes are single use)."""
    totp = pyotp.TOTP(secret)
    return totp.at(time.time() + totp.interval)


async def teststaff_login_with_mfa(desk, factory: Factory, shot):
    tenant = await factory.tenant()
    admin = await factory.user(tenant, "hospital_admin", mfa=True)
    await factory.user(tenant, "doctor")
    await factory.patient(tenant)
    await watch_csp(desk)
    page = await desk.new_page()
    await page.goto("/admin/devices")
    assert re.search(r"/login\?next=/admin/devices$", page.url)
    await shot(page, "01-staff-login")
    await page.get_by_label("Email").fill(admin.email)
    await page.get_by_label("Password").fill("wrong-password")
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_text("The email or password is not right.").wait_for()
    assert await page.get_by_label("Email").input_value() == admin.email
    await shot(page, "02-staff-login-error")
    await page.get_by_label("Password").fill(admin.password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/login/mfa**")
    await shot(page, "03-staff-mfa")
    await page.get_by_label("Code").fill(pyotp.TOTP(admin.totp_secret).now())
    await page.get_by_role("button", name="Verify and continue").click()
    await page.wait_for_url("**/admin/devices")
    await page.get_by_role("link", name="Home").click()
    await page.get_by_role("heading", name=tenant.name).wait_for()
    await page.locator("canvas[data-chart]").first.wait_for()
    await page.wait_for_timeout(400)  # the chart's short animation
    await shot(page, "04-admin-dashboard")
    for path, name in (("/admin/staff", "05-admin-staff"), ("/admin/locations", "06-admin-locations"),
                       ("/admin/audit", "07-admin-audit"), ("/patients", "08-patients"), ("/account", "09-account")):
        response = await page.goto(path)
        assert response is not None and response.status == 200, path
        await shot(page, name)
    assert await csp_violations(page) == []
    cookies = {c["name"]: c for c in await desk.cookies()}
    assert cookies["cb_access"]["httpOnly"] and cookies["cb_access"]["sameSite"] == "Lax"
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url("**/login")
    await page.get_by_text("You are signed out.").first.wait_for()


async def test_patient_otp_login_on_a_phone(phone, factory: Factory, mailbox, shot):
    tenant = await factory.tenant(kind="clinic")
    email = f"asha-{tenant.slug}@patients.example"
    patient = await factory.user(tenant, "patient", password=None, email=email)
    await factory.patient(tenant, user=patient, given="Asha", family="Kumar")
    await watch_csp(phone)
    page = await phone.new_page()
    await page.goto("/patient-login")
    await shot(page, "10-patient-login-phone")
    await page.get_by_label("Mobile number or email").fill("not a number")
    await page.get_by_role("button", name="Send me a code").click()
    await page.locator("#f-destination-error").wait_for()
    await shot(page, "11-patient-login-error-phone")
    before = len(mailbox.to(email))
    await page.get_by_label("Mobile number or email").fill(email)
    await page.get_by_role("button", name="Send me a code").click()
    await page.get_by_label("6-digit code").wait_for()
    await shot(page, "12-patient-code-phone")
    code = mailbox.code(await mailbox.wait_for(email, after=before))
    await page.get_by_label("6-digit code").fill(code)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("heading", name="My care").wait_for()
    assert await page.get_by_text("Asha Kumar").count() >= 1
    await shot(page, "13-patient-home-phone")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
    await page.goto("/account")
    await shot(page, "14-patient-account-phone")
    assert await csp_violations(page) == []


async def test_admin_approves_a_device(browser, live_server, factory: Factory, shot):
    tenant = await factory.tenant(device_approval=True)
    admin = await factory.user(tenant, "hospital_admin", mfa=True)
    doctor = await factory.user(tenant, "doctor")
    doctor_ctx = await browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server.url)
    admin_ctx = await browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server.url)
    try:
        # The doctor signs in from a new browser: it waits for approval.
        doc = await doctor_ctx.new_page()
        await doc.goto("/login")
        await doc.get_by_label("Email").fill(doctor.email)
        await doc.get_by_label("Password").fill(doctor.password)
        await doc.get_by_role("button", name="Sign in").click()
        await doc.wait_for_url("**/login/device-pending")
        await doc.get_by_role("heading", name="This device is waiting for approval").wait_for()
        await shot(doc, "20-device-pending")

        # The admin (own browser, TOTP) approves it on the devices page; htmx swaps the row.
        adm = await admin_ctx.new_page()
        await adm.goto("/login?next=/admin/devices")
        await adm.get_by_label("Email").fill(admin.email)
        await adm.get_by_label("Password").fill(admin.password)
        await adm.get_by_role("button", name="Sign in").click()
        await adm.wait_for_url("**/login/mfa**")
        await adm.get_by_label("Code").fill(pyotp.TOTP(admin.totp_secret).now())
        await adm.get_by_role("button", name="Verify and continue").click()
        await adm.wait_for_url(re.compile(r".*/(admin/devices|login/device-pending)$"))
        if adm.url.endswith("/login/device-pending"):
            # Where the policy covers hospital admins too, this tenant's first admin device is approved
            # out of band (as an operator bootstraps it), then the admin signs in again.
            await _approve_devices_of(factory, admin.id)
            await adm.goto("/login?next=/admin/devices")
            await adm.get_by_label("Email").fill(admin.email)
            await adm.get_by_label("Password").fill(admin.password)
            await adm.get_by_role("button", name="Sign in").click()
            await adm.wait_for_url("**/login/mfa**")
            await adm.get_by_label("Code").fill(_next_totp(admin.totp_secret))
            await adm.get_by_role("button", name="Verify and continue").click()
            await adm.wait_for_url("**/admin/devices")
        assert adm.url.endswith("/admin/devices"), adm.url
        row = adm.locator("tr", has_text=doctor.email)
        await row.wait_for()
        await shot(adm, "21-devices-pending-list")
        await row.get_by_role("button", name="Approve").click()
        await row.get_by_text("Approved", exact=True).wait_for()
        await shot(adm, "22-device-approved")

        # The doctor signs in again from the same browser: straight to the home page.
        await doc.goto("/login")
        await doc.get_by_label("Email").fill(doctor.email)
        await doc.get_by_label("Password").fill(doctor.password)
        await doc.get_by_role("button", name="Sign in").click()
        await doc.wait_for_url(live_server.url + "/")
        await doc.get_by_role("heading", name=re.compile("Good (morning|afternoon|evening)")).wait_for()
        await shot(doc, "23-doctor-home")
        await doc.goto("/patients/new")
        await doc.get_by_role("button", name="Register patient").click()
        await doc.locator("#f-given_name-error").wait_for()
        await shot(doc, "24-register-patient-errors")
    finally:
        await doctor_ctx.close()
        await admin_ctx.close()


async def test_forged_form_is_refused(desk, factory: Factory, shot):
    tenant = await factory.tenant()
    nurse = await factory.user(tenant, "nurse")
    page = await desk.new_page()
    await page.goto("/login")
    await page.get_by_label("Email").fill(nurse.email)
    await page.get_by_label("Password").fill(nurse.password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/")
    # Another site's form cannot know the token: tamper with it as a forged request would.
    await page.goto("/account")
    forged = "el => el.value = 'forged-token-forged-token-forged-token'"
    await page.locator("#password input[name=csrf_token]").evaluate(forged)
    await page.locator("#f-current_password").fill(nurse.password)
    await page.locator("#f-new_password").fill("a much better passphrase")
    await page.locator("#f-confirm_password").fill("a much better passphrase")
    await page.get_by_role("button", name="Change password").click()
    await page.get_by_role("heading", name="This form has expired").wait_for()
    await shot(page, "30-csrf-refused")
    response = await page.request.post("/account/password", form={"new_password": "x" * 12})
    assert response.status == 403
