"""Account messages (sign-in codes, password links, invitations), text and HTML."""

from __future__ import annotations

import uuid
from html import escape

from carebase.notifications.channels import Message
from carebase.notifications.templates import render_files
from carebase.settings import get_settings


def _html(heading: str, body: str, action: tuple[str, str] | None = None) -> str:
    button = ""
    if action:
        label, url = action
        button = (
            f'<p><a href="{escape(url)}" style="background:#0b5cad;color:#fff;padding:10px 16px;'
            f'border-radius:6px;text-decoration:none">{escape(label)}</a></p>'
        )
    return (
        '<div style="font-family:system-ui,sans-serif;max-width:520px;color:#10253f">'
        f"<h1 style=\"font-size:20px\">{escape(heading)}</h1><p>{escape(body)}</p>{button}"
        '<p style="color:#4a5a70;font-size:13px">If you did not ask for this, you can ignore this message.</p>'
        "</div>"
    )


def login_code(to: str, code: str, minutes: int, *, language: str = "en", user_id: uuid.UUID | None = None) -> Message:
    rendered = render_files("login_code", "email" if "@" in to else "sms", language,
                            {"tenant_name": "Carebase", "code": code, "minutes": minutes})  # fmt: skip
    return Message(
        to=to, subject=rendered.subject, text=rendered.text, html=rendered.html, category="security",
        template="login_code", user_id=user_id,
    )  # fmt: skip


def password_link(to: str, token: str, minutes: int, *, invitation_to: str | None = None) -> Message:
    url = f"{get_settings().public_base_url}/reset-password?token={token}"
    if invitation_to:
        subject = f"You are invited to {invitation_to} on Carebase"
        body = f"You have been invited to {invitation_to}. Choose a password to start. The link works once."
        label = "Choose a password"
    else:
        subject = "Reset your Carebase password"
        body = f"Use this link within {minutes} minutes to choose a new password. It works once."
        label = "Choose a new password"
    return Message(
        to=to,
        subject=subject,
        text=f"{body}\n\n{url}\n",
        html=_html(subject, body, (label, url)),
        category="security",
        template="invitation" if invitation_to else "password_link",
    )
