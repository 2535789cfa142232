"""`mlm push`: publish a local preset on the Hugging Face Hub or Kaggle Models.

targets.py       the destinations: hf://owner/repo, kaggle://owner/model/framework/variation
preset_files.py  which files make up a preset, checked and staged so nothing else can leave the machine
huggingface.py   the upload through huggingface_hub, and its failures as one-line errors
kaggle.py        the upload through kagglehub, and its failures as one-line errors
failures.py      what the clients' failures look like (network errors, server messages)
workflow.py      PushOptions and push(): the command as a plain function

Nothing here imports the CLI; the client libraries and keras are imported only when used.
"""

from mlm_cli.push.workflow import PushOptions, push

__all__ = ["PushOptions", "push"]
