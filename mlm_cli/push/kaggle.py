"""Push a staged preset to a Kaggle model variation through kagglehub.

kagglehub.model_upload(handle, folder, version_notes=...) creates the model (private) when
missing, then the variation with the uploaded files, or a new version of an existing
variation; the version notes apply to new versions only. kagglehub finds the credentials
itself: KAGGLE_API_TOKEN, KAGGLE_USERNAME and KAGGLE_KEY, or ~/.kaggle/kaggle.json.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from mlm_cli.errors import MlmError
from mlm_cli.push.failures import first_line, network_errors
from mlm_cli.push.targets import KaggleTarget

LOGIN_HINT = "set KAGGLE_USERNAME and KAGGLE_KEY (or KAGGLE_API_TOKEN, or ~/.kaggle/kaggle.json)"


def require_login() -> None:
    """Fail before any work when kagglehub has no credentials to push with."""
    from kagglehub.config import get_kaggle_credentials

    try:
        credentials = get_kaggle_credentials()
    except ValueError as error:  # a malformed kaggle.json
        raise MlmError(f"cannot read the Kaggle credentials: {error}", hint=LOGIN_HINT) from None
    if credentials is None:
        raise MlmError("no Kaggle credentials found", hint=LOGIN_HINT)


def upload(folder: Path, target: KaggleTarget, *, message: str, progress: bool) -> str:
    """Upload every file in `folder` as a version of `target` (its first when new); returns its web page."""
    import kagglehub
    from kagglehub.handle import parse_model_handle

    with _client_output(progress):
        try:
            kagglehub.model_upload(target.handle, str(folder), version_notes=message)
        except Exception as error:  # noqa: BLE001 - a push failure becomes one line; anything else is re-raised
            failure = _failure(error, target)
            if failure is error:
                raise
            raise failure from None
    return parse_model_handle(target.handle).to_url()


@contextlib.contextmanager
def _client_output(progress: bool) -> Iterator[None]:
    """kagglehub logs and warns on stdout, which mlm keeps for results: during the upload its warnings and progress
    bars go to stderr, or nowhere without `progress` (--quiet). Its per-file log lines (naming the staging copies)
    are left out: mlm reports what it uploads."""
    logger = logging.getLogger("kagglehub")
    handlers = [(handler, handler.stream) for handler in logger.handlers if type(handler) is logging.StreamHandler]
    with contextlib.ExitStack() as stack:
        sink = sys.stderr if progress else stack.enter_context(open(os.devnull, "w", encoding="utf-8"))
        for handler, _ in handlers:
            handler.setStream(sink)
        stack.callback(_restore_streams, handlers)
        stack.callback(logger.setLevel, logger.level)
        logger.setLevel(logging.WARNING)
        stack.enter_context(contextlib.redirect_stdout(sink))
        if not progress:
            stack.enter_context(contextlib.redirect_stderr(sink))
        yield


def _restore_streams(handlers: list[tuple[logging.StreamHandler, object]]) -> None:
    for handler, stream in handlers:
        handler.setStream(stream)


def _failure(error: Exception, target: KaggleTarget) -> Exception:
    """The one-line error for a failed push, or `error` itself when it is not a push failure."""
    import requests
    from kagglehub import exceptions as kaggle_errors

    if isinstance(error, kaggle_errors.BackendError):  # an error reported in a response body, or a failed upload
        return _status_failure(error.error_code, first_line(str(error)), target)
    if isinstance(error, requests.HTTPError):
        response = error.response
        return _status_failure(getattr(response, "status_code", None), _server_message(response), target)
    if isinstance(error, (kaggle_errors.UnauthenticatedError, kaggle_errors.CredentialError)):
        return MlmError(f"Kaggle authentication failed pushing to {target}: {first_line(str(error))}",
                        hint=LOGIN_HINT)
    if isinstance(error, network_errors()):
        return MlmError(f"cannot reach Kaggle to push to {target}: {type(error).__name__}",
                        hint="check the network connection and try again")
    return error


def _status_failure(status: int | None, detail: str, target: KaggleTarget) -> MlmError:
    said = f": {detail}" if detail else ""
    if status in (401, 403):
        return MlmError(f"Kaggle refused to let you push to {target} (HTTP {status}{said})",
                        hint=f"{LOGIN_HINT}; the owner in the handle must be you or an organization you can write to")
    if status == 409:
        return MlmError(f"Kaggle reported a conflict pushing to {target} (HTTP 409{said})",
                        hint="the model or variation may exist with other settings, or another upload is under "
                             "way: check it on kaggle.com and try again")
    code = f"HTTP {status}" if status else "failed"
    return MlmError(f"pushing to {target} failed ({code}{said})", hint="try again later; run with --debug for details")


def _server_message(response) -> str:
    """Kaggle's error message from a JSON error body, if there is one."""
    try:
        body = response.json()
    except Exception:  # noqa: BLE001 - not JSON: no message
        return ""
    return first_line(str(body.get("message", ""))) if isinstance(body, dict) else ""
