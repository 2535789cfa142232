"""Push a staged preset to a Hugging Face model repository through huggingface_hub.

The repository is created when missing (private on request), then every staged file goes
into one commit on main; the preset's model card, README.md, becomes the repository's card.
huggingface_hub finds the token itself (HF_TOKEN, else the stored `hf auth login`) and the
Hub's address (HF_ENDPOINT).
"""

from __future__ import annotations

import json
from pathlib import Path

from mlm_cli.errors import BadInputError, MlmError
from mlm_cli.push.failures import first_line, network_errors
from mlm_cli.push.preset_files import CARD_FILE, KERAS_HUB
from mlm_cli.push.targets import HfTarget

LOGIN_HINT = "set HF_TOKEN to a token with write access, or run `hf auth login`"


def require_login() -> None:
    """Fail before any work when huggingface_hub has no token to push with."""
    import huggingface_hub

    try:
        token = huggingface_hub.get_token()
    except Exception as error:  # noqa: BLE001 - an OIDC exchange or token refresh that failed
        raise MlmError(f"cannot get a Hugging Face token: {type(error).__name__}: {first_line(str(error))}",
                       hint=LOGIN_HINT) from None
    if not token:
        raise MlmError("no Hugging Face token found", hint=LOGIN_HINT)


def add_card_if_missing(folder: Path, names: list[str], target: HfTarget, format: str) -> list[str]:
    """The staged names plus a short README.md when the preset has no model card (the repository's page shows it)."""
    if CARD_FILE in names:
        return names
    (folder / CARD_FILE).write_text(default_card(target, format), encoding="utf-8")
    return sorted([*names, CARD_FILE])


def upload(folder: Path, names: list[str], target: HfTarget, *, message: str, private: bool, progress: bool) -> str:
    """Commit `names` (files in `folder`) to `target`, creating the repository if needed; returns its URL."""
    import huggingface_hub

    if not progress:
        huggingface_hub.utils.disable_progress_bars()
    api = huggingface_hub.HfApi()
    try:
        repo = api.create_repo(target.repo_id, repo_type="model", private=True if private else None, exist_ok=True)
        operations = [huggingface_hub.CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name))
                      for name in names]
        api.create_commit(repo.repo_id, operations, commit_message=message, repo_type="model")
    except Exception as error:  # noqa: BLE001 - a push failure becomes one line; anything else is re-raised
        failure = _failure(error, target)
        if failure is error:
            raise
        raise failure from None
    return str(repo)


def default_card(target: HfTarget, format: str) -> str:
    """A short model card: front matter for the Hub (library, task) and how to load the model."""
    from mlm_cli import __version__

    library = "keras-hub" if format == KERAS_HUB else "transformers"
    front_matter = {"library_name": library, "pipeline_tag": "fill-mask", "tags": ["mlm", "masked-lm"]}
    load = (f"`keras_hub.models.MaskedLM.from_preset(\"{target}\")`" if format == KERAS_HUB
            else f"`transformers.AutoModelForMaskedLM.from_pretrained(\"{target.repo_id}\")`")
    return "\n".join([
        "---", *(f"{key}: {json.dumps(value)}" for key, value in front_matter.items()), "---", "",
        f"# {target.repo_id.split('/')[-1]}", "",
        f"A masked language model pushed with mlm {__version__}. Load it with {load}.", "",
    ])


def _failure(error: Exception, target: HfTarget) -> Exception:
    """The one-line error for a failed push, or `error` itself when it is not a push failure."""
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, OfflineModeIsEnabled

    if isinstance(error, OfflineModeIsEnabled):
        return MlmError(f"cannot push to {target}: HF_HUB_OFFLINE is set", hint="unset HF_HUB_OFFLINE to push")
    if isinstance(error, HfHubHTTPError):
        return _http_failure(error, target)
    if isinstance(error, network_errors()):
        return MlmError(f"cannot reach the Hugging Face Hub at {constants.ENDPOINT} to push to {target}: "
                        f"{type(error).__name__}", hint="check the network connection or HF_ENDPOINT")
    if isinstance(error, HFValidationError):
        return BadInputError(f"{target} is not a valid Hugging Face repository name", hint="use hf://owner/repo")
    if isinstance(error, ValueError) and CARD_FILE in str(error):  # the Hub refused the card's metadata
        return BadInputError(f"the Hugging Face Hub refused the model card: {first_line(str(error))}",
                             hint=f"fix the YAML front matter of the preset's {CARD_FILE}")
    return error


def _http_failure(error, target: HfTarget) -> MlmError:
    status = getattr(error.response, "status_code", None)
    detail = first_line(error.server_message or "")
    said = f": {detail}" if detail else ""
    if status in (401, 403):
        return MlmError(f"the Hugging Face Hub refused to let you push to {target} (HTTP {status}{said})",
                        hint=f"{LOGIN_HINT}; pushing to an organization needs write access to it")
    if status in (409, 412):
        return MlmError(f"the Hugging Face Hub reported a conflict pushing to {target} (HTTP {status}{said})",
                        hint="another push to the repository may have been under way: try again; "
                             "check that the name is not taken by another kind of repository")
    if status == 404:
        return MlmError(f"the Hugging Face Hub has no repository or namespace for {target} (HTTP 404{said})",
                        hint=f"check the owner in the handle; {LOGIN_HINT}")
    return MlmError(f"pushing to {target} failed: HTTP {status}{said}",
                    hint="try again later; run with --debug for the details")
