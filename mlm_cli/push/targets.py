"""Where `mlm push` publishes: a Hugging Face model repository or a Kaggle model variation."""

from __future__ import annotations

from dataclasses import dataclass

from mlm_cli.errors import BadInputError
from mlm_cli.hub import HF_SCHEME, KAGGLE_SCHEME, parse_hf_handle, parse_kaggle_handle

TARGET_HINT = "use hf://owner/repo or kaggle://owner/model/framework/variation"
# Kaggle frameworks that describe each push format (the first is the one to suggest).
KAGGLE_FRAMEWORKS = {"keras_hub": ("keras",), "hf": ("transformers", "pytorch")}


@dataclass(frozen=True)
class HfTarget:
    repo_id: str

    def __str__(self) -> str:
        return f"{HF_SCHEME}{self.repo_id}"


@dataclass(frozen=True)
class KaggleTarget:
    owner: str
    model: str
    framework: str
    variation: str

    @property
    def handle(self) -> str:
        """kagglehub's handle: owner/model/framework/variation (no version: Kaggle numbers them)."""
        return f"{self.owner}/{self.model}/{self.framework}/{self.variation}"

    def __str__(self) -> str:
        return f"{KAGGLE_SCHEME}{self.handle}"


def parse_target(text: str) -> HfTarget | KaggleTarget:
    """The destination named by `text`; a malformed one is a BadInputError that says the right form."""
    text = str(text).strip()
    if text.startswith(HF_SCHEME):
        return _hf_target(text)
    if text.startswith(KAGGLE_SCHEME):
        return _kaggle_target(text)
    raise BadInputError(f"cannot push to {text!r}: not a hf:// or kaggle:// handle", hint=TARGET_HINT)


def _hf_target(text: str) -> HfTarget:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        handle = parse_hf_handle(text)
    except BadInputError:
        raise BadInputError(f"malformed Hugging Face handle {text!r}", hint="use hf://owner/repo") from None
    if handle.revision is not None:
        raise BadInputError(f"cannot push to {text!r}: mlm push commits to the main branch",
                            hint=f"drop @{handle.revision}: hf://{handle.repo_id}")
    try:
        validate_repo_id(handle.repo_id)
    except HFValidationError:
        raise BadInputError(f"{text!r} is not a valid Hugging Face repository name",
                            hint="use letters, digits, '-', '_' and '.': hf://owner/repo") from None
    return HfTarget(handle.repo_id)


def _kaggle_target(text: str) -> KaggleTarget:
    try:
        handle = parse_kaggle_handle(text)
    except BadInputError:
        hint = "use kaggle://owner/model/framework/variation, e.g. kaggle://me/my-bert/keras/base"
        raise BadInputError(f"malformed Kaggle handle {text!r}", hint=hint) from None
    base = f"kaggle://{handle.owner}/{handle.model}/{handle.framework}/{handle.variation}"
    if handle.version is not None:
        raise BadInputError(f"cannot push to {text!r}: Kaggle numbers the versions itself",
                            hint=f"drop the version: {base}")
    return KaggleTarget(handle.owner, handle.model, handle.framework, handle.variation)


def check_framework(target: HfTarget | KaggleTarget, format: str) -> None:
    """A Kaggle variation's framework must say what the files are (keras for keras_hub, transformers for hf)."""
    if not isinstance(target, KaggleTarget):
        return
    allowed = KAGGLE_FRAMEWORKS[format]
    if target.framework.lower() not in allowed:
        fixed = KaggleTarget(target.owner, target.model, allowed[0], target.variation)
        what = "a keras_hub preset" if format == "keras_hub" else "a transformers checkpoint"
        raise BadInputError(f"{target} names the framework {target.framework!r}, but the upload is {what}",
                            hint=f"push to {fixed}")
