"""Shared browser steps for the end-to-end tests: CSP violation watching, staff and patient sign-in."""

from __future__ import annotations

import re

import pyotp


async def watch_csp(context) -> None:  # type: ignore[no-untyped-def]
    # An init script is injected by the browser driver, not the page, so the CSP does not apply to it.
    await context.add_init_script(
        "window.__cspViolations = [];"
        "document.addEventListener('securitypolicyviolation', e => window.__cspViolations.push(e.violatedDirective));"
    )


async def csp_violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    return await page.evaluate("window.__cspViolations || []")


async def staff_login(page, user) -> None:  # type: ignore[no-untyped-def]
    """Sign in without a second factor; lands on the role's home."""
    await page.goto("/login")
    await page.get_by_label("Email").fill(user.email)
    await page.get_by_label("Password").fill(user.password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r".*/$"))


async def staff_login_mfa(page, user) -> None:  # type: ignore[no-untyped-def]
    """Sign in with password and the current TOTP code; waits until the sign-in pages are left."""
    await page.goto("/login")
    await page.get_by_label("Email").fill(user.email)
    await page.get_by_label("Password").fill(user.password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/login/mfa**")
    await page.get_by_label("Code").fill(pyotp.TOTP(user.totp_secret).now())
    await page.get_by_role("button", name="Verify and continue").click()
    await page.wait_for_url(lambda url: "/login" not in url)


async def patient_code_login(page, mailbox, user) -> None:  # type: ignore[no-untyped-def]
    """On the patient sign-in page (already open): a code by email, typed in, signed in. Where the browser
    goes next is the caller's to wait for (the ``next`` page)."""
    before = len(mailbox.to(user.email))
    await page.get_by_label("Mobile number or email").fill(user.email)
    await page.get_by_role("button", name="Send me a code").click()
    await page.get_by_label("6-digit code").fill(mailbox.code(await mailbox.wait_for(user.email, after=before)))
    await page.get_by_role("button", name="Sign in").click()
