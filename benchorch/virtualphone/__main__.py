"""``python -m benchorch.virtualphone --port P --profile NAME --root DIR [faults]``."""

from benchorch.virtualphone.cli import main

main()
