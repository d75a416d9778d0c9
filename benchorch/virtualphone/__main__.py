"""``python -m benchorch.virtualphone --port P --profile NAME --root DIR [faults]``."""

from benchorch.cli.vphone_cmd import main

main()
