"""Commands of governance: check results, approvals and rejections, and the gate policy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from . import render
from .context import common_options, emit, registry

F = TypeVar("F", bound=Callable[..., Any])


@click.command()
@click.argument("name")
@click.argument("version")
@click.argument("check_name", metavar="CHECK")
@click.option("--passed/--failed", "passed", default=None, help="The check's result (one is required).")
@click.option("--details", metavar="JSON", help="Details as a JSON object.")
@common_options
@click.pass_context
def check(ctx: click.Context, name: str, version: str, check_name: str, passed: bool | None, details: str | None) -> None:
    """Record a result of CHECK on VERSION of NAME."""
    if passed is None:
        raise click.UsageError("say --passed or --failed")
    result = registry(ctx).record_check(name, version, check_name, passed=passed, details=details)
    emit(ctx, result, lambda: [
        f"Recorded check {result.name} on {name} version {result.version}: {'passed' if result.passed else 'FAILED'}"
    ])


def proof_options(func: F) -> F:
    """``--sign-with KEY`` and ``--totp CODE``: the proof of a decision, policy change or enrolment."""
    func = click.option(
        "--totp", metavar="CODE", help="A code from the authenticator app enrolled for you (good once).",
    )(func)
    return click.option(
        "--sign-with", "sign_with", metavar="KEY", type=click.Path(dir_okay=False),
        help="Sign with this SSH key (ssh-keygen -Y sign): a private key file, or a .pub whose key ssh-agent holds.",
    )(func)


@click.command()
@click.argument("name")
@click.argument("version")
@click.option("--comment", help="A note for the record.")
@proof_options
@common_options
@click.pass_context
def approve(ctx: click.Context, name: str, version: str, comment: str | None, sign_with: str | None, totp: str | None) -> None:
    """Approve VERSION of NAME for Production, as --actor; under a policy that requires proof, with --sign-with or --totp."""
    record = registry(ctx).approve(name, version, comment=comment, sign_with=sign_with, totp=totp)
    proven = " (proven)" if sign_with or totp else ""
    emit(ctx, record, lambda: [f"{record.approver} approved {name} version {record.version}{proven}"])


@click.command()
@click.argument("name")
@click.argument("version")
@click.option("--comment", help="Why; shown to whoever tries to promote.")
@proof_options
@common_options
@click.pass_context
def reject(ctx: click.Context, name: str, version: str, comment: str | None, sign_with: str | None, totp: str | None) -> None:
    """Reject VERSION of NAME: it cannot be promoted until approved again (proofs as for approve)."""
    record = registry(ctx).reject(name, version, comment=comment, sign_with=sign_with, totp=totp)
    proven = " (proven)" if sign_with or totp else ""
    emit(ctx, record, lambda: [f"{record.approver} rejected {name} version {record.version}{proven}"])


@click.command()
@click.argument("name")
@click.option("--staging-check", "staging_checks", multiple=True, metavar="CHECK", help="A check required before Staging (repeatable; replaces the list).")
@click.option("--production-check", "production_checks", multiple=True, metavar="CHECK", help="A check required before Production (repeatable; replaces the list).")
@click.option("--approvals", type=int, metavar="N", help="Approvals required before Production.")
@click.option("--approver", "approvers", multiple=True, metavar="NAME", help="An allowed approver (repeatable; replaces the list).")
@click.option("--clear-staging-checks", is_flag=True, help="Require no checks before Staging.")
@click.option("--clear-production-checks", is_flag=True, help="Require no checks before Production.")
@click.option("--clear-approvers", is_flag=True, help="Let anyone approve (subject to --self-approval).")
@click.option("--self-approval/--no-self-approval", "self_approval", default=None, help="Whether a registrant may approve their own version.")
@click.option("--trusted-type", "trusted_types", multiple=True, metavar="MODULE.TYPE", help="A type beyond scikit-learn's own that loading a version may construct (repeatable; replaces the list).")
@click.option("--clear-trusted-types", is_flag=True, help="Trust only scikit-learn's own types.")
@click.option("--allow-pickle/--no-allow-pickle", "allow_pickle", default=None, help="Whether versions may be stored and loaded as pickles, which run any code they hold.")
@click.option("--protect-alias", "protect_aliases", multiple=True, metavar="ALIAS", help="Let ALIAS point only at a version that meets every gate before Production and is not Archived (repeatable).")
@click.option("--unprotect-alias", "unprotect_aliases", multiple=True, metavar="ALIAS", help="Make ALIAS a free label again (repeatable).")
@click.option("--allow-io-parameter", "io_parameters", multiple=True, metavar="CLASS.PARAM", help="Let versions set an estimator parameter that reads or writes files, e.g. CountVectorizer.input (repeatable; replaces the list).")
@click.option("--clear-io-parameters", is_flag=True, help="Allow no estimator parameter that reads or writes files.")
@click.option("--max-load-mib", type=click.IntRange(1, 2**30), metavar="MIB", help="The most a version may inflate to when loaded, in MiB (default 512).")
@click.option("--max-load-objects", type=click.IntRange(1, 2**50), metavar="N", help="The most objects loading a version may construct (default 200,000).")
@click.option("--require-proof/--no-require-proof", "require_proof", default=None, help="Whether approvals and rejections count only with a proof (--sign-with or --totp) from an enrolled identity.")
@click.option("--onnx-parity", "onnx_parity", metavar="TOL", help="Serve a version's ONNX rendition when its parity is at most TOL (a number); 'none' never serves one (the default).")
@click.option("--owner", "owners", multiple=True, metavar="NAME", help="Who may change a proof-requiring policy, with a proof (repeatable; replaces the list).")
@proof_options
@common_options
@click.pass_context
def policy(
    ctx: click.Context, name: str, staging_checks: tuple[str, ...], production_checks: tuple[str, ...],
    approvals: int | None, approvers: tuple[str, ...], clear_staging_checks: bool, clear_production_checks: bool,
    clear_approvers: bool, self_approval: bool | None, trusted_types: tuple[str, ...], clear_trusted_types: bool,
    allow_pickle: bool | None, protect_aliases: tuple[str, ...], unprotect_aliases: tuple[str, ...],
    io_parameters: tuple[str, ...], clear_io_parameters: bool, max_load_mib: int | None, max_load_objects: int | None,
    require_proof: bool | None, owners: tuple[str, ...], onnx_parity: str | None, sign_with: str | None,
    totp: str | None,
) -> None:
    """Show the governance policy of NAME, or change the parts given.

    A policy that requires proof is changed only by one of its owners, with --sign-with or --totp.
    """
    for flag, values, label in (
        (clear_staging_checks, staging_checks, "staging checks"),
        (clear_production_checks, production_checks, "production checks"),
        (clear_approvers, approvers, "approvers"),
        (clear_trusted_types, trusted_types, "trusted types"),
        (clear_io_parameters, io_parameters, "I/O parameters"),
    ):
        if flag and values:
            raise click.UsageError(f"give new {label} or clear them, not both")
    changes = {
        "staging_checks": () if clear_staging_checks else (staging_checks or None),
        "production_checks": () if clear_production_checks else (production_checks or None),
        "approvals_required": approvals,
        "approvers": () if clear_approvers else (approvers or None),
        "allow_self_approval": self_approval,
        "trusted_types": () if clear_trusted_types else (trusted_types or None),
        "allow_pickle": allow_pickle,
        "allow_io_parameters": () if clear_io_parameters else (io_parameters or None),
        "max_load_bytes": max_load_mib * 1024 * 1024 if max_load_mib is not None else None,
        "max_load_objects": max_load_objects,
        "require_proof": require_proof,
        "owners": owners or None,
        "onnx_parity": onnx_parity,
    }
    if all(value is None for value in changes.values()) and not protect_aliases and not unprotect_aliases:
        current = registry(ctx, read_only=True).get_policy(name)
    else:
        current = registry(ctx).set_policy(
            name, **changes, protect_aliases=protect_aliases, unprotect_aliases=unprotect_aliases,
            sign_with=sign_with, totp=totp,
        )
    emit(ctx, current, lambda: render.policy_lines(current))


COMMANDS = (check, approve, reject, policy)
