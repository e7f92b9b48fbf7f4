"""The ``identity`` commands: enrol, list and revoke the SSH keys and TOTP secrets that prove decisions."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import InvalidInput
from ..extras import requiring_extra
from ..identities import shown_actor
from . import render
from .context import common_options, emit, registry

if TYPE_CHECKING:  # the command line starts without the catalog's modules
    from ..enrolment import CredentialInfo


@click.group()
def identity() -> None:
    """Who can prove their decisions, and with what: SSH public keys and TOTP secrets."""


@identity.command("add")
@click.argument("name")
@click.option("--ssh-key", "ssh_key", metavar="KEY.pub", type=click.Path(exists=True, dir_okay=False),
              help="Enrol this OpenSSH public key (ed25519, as used to sign git commits).")
@click.option("--totp", "totp_secret", is_flag=True,
              help="Enrol a new TOTP secret: prints its otpauth:// URI and a QR code for an authenticator app, once.")
@click.option("--rotate", is_flag=True, help="Replace NAME's credentials of this kind instead of adding one.")
@click.option("--sign-with", "sign_with", metavar="KEY", type=click.Path(dir_okay=False),
              help="When NAME already holds a credential: NAME's proof, signed with one of NAME's enrolled SSH keys.")
@click.option("--code", metavar="CODE", help="When NAME already holds a credential: NAME's proof, a current TOTP code.")
@common_options
@click.pass_context
def add(ctx: click.Context, name: str, ssh_key: str | None, totp_secret: bool, rotate: bool,
        sign_with: str | None, code: str | None) -> None:
    """Enrol a credential for NAME (an SSH public key, or a TOTP secret); audited.

    The first credential of NAME is enrolled by whoever runs this; another one,
    or a rotation, needs NAME's own proof (--sign-with or --code). TOTP secrets are
    stored encrypted with REGISTRY_SECRET_KEY, which must be set.
    """
    if (ssh_key is None) == (not totp_secret):
        raise click.UsageError("give --ssh-key KEY.pub or --totp")
    catalog = registry(ctx)
    if ssh_key is not None:
        try:
            line = Path(ssh_key).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise InvalidInput(f"cannot read {ssh_key}: {error}") from None
        info = catalog.enrol_ssh_key(name, line, rotate=rotate, sign_with=sign_with, totp=code)
        emit(ctx, info, lambda: [f"Enrolled SSH key {info.fingerprint} for {info.identity}"])
        return
    enrolment = catalog.enrol_totp(name, rotate=rotate, sign_with=sign_with, totp=code)
    emit(ctx, enrolment.to_dict(), lambda: [
        f"Enrolled a TOTP secret ({enrolment.credential.fingerprint}) for {enrolment.credential.identity}.",
        "Scan this code with an authenticator app, or enter the URI; it is shown only now:",
        enrolment.uri,
        *_qr_lines(enrolment.uri),
    ])


def _qr_lines(uri: str) -> list[str]:
    with requiring_extra("proofs", "the TOTP QR code"):
        import qrcode
    code = qrcode.QRCode(border=1)
    code.add_data(uri)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue().splitlines()


@identity.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Revoked and rotated credentials too.")
@common_options
@click.pass_context
def list_(ctx: click.Context, include_revoked: bool) -> None:
    """Who is enrolled with what (never a secret)."""
    credentials = registry(ctx, read_only=True).list_identities(include_revoked=include_revoked)
    emit(ctx, credentials, lambda: _credential_table(credentials))


def _credential_table(credentials: list[CredentialInfo]) -> list[str]:
    if not credentials:
        return ["no identity is enrolled"]
    rows = [
        (shown_actor(c.identity), c.kind, c.fingerprint, shown_actor(c.enrolled_by), render.when(c.enrolled_at),
         f"revoked {render.when(c.revoked_at)}" if c.revoked_at else "active")
        for c in credentials
    ]
    return render.table(("IDENTITY", "KIND", "FINGERPRINT", "ENROLLED BY", "ENROLLED", "STATUS"), rows)


@identity.command("revoke")
@click.argument("name")
@click.option("--fingerprint", metavar="FP", help="Only this credential (as `registry identity list` shows it).")
@common_options
@click.pass_context
def revoke(ctx: click.Context, name: str, fingerprint: str | None) -> None:
    """End NAME's credentials; decisions proven with them before still verify. Audited."""
    ended = registry(ctx).revoke_identity(name, fingerprint=fingerprint)
    emit(ctx, ended, lambda: [f"Revoked {c.kind} credential {c.fingerprint} of {c.identity}" for c in ended])


COMMANDS = (identity,)
